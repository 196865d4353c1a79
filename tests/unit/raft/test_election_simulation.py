"""Seeded schedules of controller pauses, deaths and lease expiries over the in-memory fenced
log, in virtual time; the invariants hold on every seed:

- records are committed in epoch order: once a newer controller has appended, nothing from an
  older epoch is ever appended again (a woken zombie is refused, never interleaved);
- at any instant at most one node holds a leadership it can still prove (an unexpired lease);
- the log stays dense: offsets 0..end-1 with no gap and no duplicate.

A failing seed is printed and replays exactly.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from brook.raft.fenced import MetadataLogError, NotControllerError
from brook.raft.memory_log import MemoryControllerElection, MemoryMetadataLog, MemoryMetadataStore
from brook.testing.clock import VirtualClock
from brook.testing.vtime import run

NODES = 3
TTL_S = 3.0
RUN_S = 120.0


async def _node(node_id: int, store: MemoryMetadataStore, rng: random.Random,
                believers: dict[int, float], stop: asyncio.Event) -> None:
    clock = store.clock
    log = MemoryMetadataLog(store)
    while not stop.is_set():
        election = MemoryControllerElection(store, node_id, ttl_s=TTL_S)
        leadership = await election.campaign()
        seq = 0
        while not stop.is_set():
            action = rng.random()
            if action < 0.05:  # killed: never renews again, comes back later as a new candidate
                await clock.sleep(rng.uniform(0, 2 * TTL_S))
                break
            if action < 0.12:  # paused (GC, SIGSTOP) for up to twice the lease, then a blind append
                await clock.sleep(rng.uniform(0, 2 * TTL_S))
                try:
                    end = await log.end_offset()
                    await log.append(leadership, [f"{leadership.epoch}:{node_id}:{seq}".encode()], end)
                    seq += 1
                except NotControllerError:
                    break
                continue
            if election.renew():
                believers[node_id] = election.valid_until
            elif election.lost():
                break
            end = await log.end_offset()
            try:
                await log.append(leadership, [f"{leadership.epoch}:{node_id}:{seq}".encode()], end)
                seq += 1
            except NotControllerError:
                break
            except MetadataLogError:
                pass
            await clock.sleep(rng.uniform(0.05, TTL_S / 3))
        believers.pop(node_id, None)


def _simulate(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    clock = VirtualClock()
    store = MemoryMetadataStore(clock)
    believers: dict[int, float] = {}
    overlaps: list[float] = []

    async def checker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = clock.monotonic()
            live = [n for n, until in believers.items() if until > now]
            current = store.current_leader()
            if len(live) > 1 and not all(current and n == current[0] for n in live):
                overlaps.append(now)
            await clock.sleep(0.05)

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.get_running_loop().create_task(
            _node(n, store, random.Random(rng.random()), believers, stop)) for n in range(1, NODES + 1)]
        tasks.append(asyncio.get_running_loop().create_task(checker(stop)))
        await clock.sleep(RUN_S)
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    run(main(), clock=clock)
    assert not overlaps, f"seed {seed}: two nodes could prove leadership at {overlaps[:3]}"
    return list(store.records)


@pytest.mark.parametrize("seed", range(40))
def test_epochs_never_interleave_under_pauses_and_deaths(seed: int) -> None:
    records = _simulate(seed)
    assert records, f"seed {seed}: nothing was ever committed"
    epochs = [int(r.split(b":")[0]) for r in records]
    assert epochs == sorted(epochs), f"seed {seed}: an older epoch appended after a newer one"
    assert len(set(epochs)) > 1, f"seed {seed}: no controller change happened"
    per_epoch: dict[int, list[int]] = {}
    for r in records:
        e, _, s = r.split(b":")
        per_epoch.setdefault(int(e), []).append(int(s))
    for e, seqs in per_epoch.items():
        assert seqs == sorted(set(seqs)), f"seed {seed}: epoch {e} reordered or duplicated"
