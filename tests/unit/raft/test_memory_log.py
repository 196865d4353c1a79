"""The in-memory fenced log and election keep the contract the etcd pair keeps (virtual time)."""

from __future__ import annotations

import asyncio

import pytest

from brook.raft.fenced import LogGapError, MetadataLogError, NotControllerError
from brook.raft.memory_log import MemoryControllerElection, MemoryMetadataLog, MemoryMetadataStore
from brook.testing.clock import VirtualClock
from brook.testing.vtime import run


def _store() -> tuple[VirtualClock, MemoryMetadataStore]:
    clock = VirtualClock()
    return clock, MemoryMetadataStore(clock)


def test_appends_are_ordered_and_positional() -> None:
    clock, store = _store()

    async def main() -> None:
        log = MemoryMetadataLog(store)
        leader = await MemoryControllerElection(store, 1).campaign()
        assert await log.append(leader, [b"a", b"b"], 0) == 1
        assert await log.append(leader, [b"c"], 2) == 2
        with pytest.raises(MetadataLogError):
            await log.append(leader, [b"d"], 2)  # a retry at a stale position writes nothing
        seen = []
        async for offset, value in log.follow(1):
            seen.append((offset, value))
            if offset == 2:
                break
        assert seen == [(1, b"b"), (2, b"c")]
        assert await log.end_offset() == 3

    run(main(), clock=clock)


def test_a_controller_whose_lease_expired_cannot_append() -> None:
    clock, store = _store()

    async def main() -> None:
        log = MemoryMetadataLog(store)
        old = MemoryControllerElection(store, 1, ttl_s=3)
        first = await old.campaign()
        await log.append(first, [b"x"], 0)
        # Node 1 stops renewing (paused); node 2 waits for the lease to run out and wins.
        second = await MemoryControllerElection(store, 2, ttl_s=3).campaign()
        assert clock.monotonic() >= 1_000.0 + 3
        assert second.epoch > first.epoch and old.lost() and not old.renew()
        with pytest.raises(NotControllerError):
            await log.append(first, [b"zombie"], 1)
        assert await log.append(second, [b"y"], 1) == 1
        assert store.records == [b"x", b"y"]

    run(main(), clock=clock)


def test_a_renewed_lease_keeps_leadership_and_resigning_hands_it_over() -> None:
    clock, store = _store()

    async def main() -> None:
        one = MemoryControllerElection(store, 1, ttl_s=3)
        await one.campaign()

        async def renew() -> None:
            for _ in range(5):
                await clock.sleep(1)
                assert one.renew()

        await renew()
        assert not one.lost()
        two = MemoryControllerElection(store, 2, ttl_s=3)
        waiting = asyncio.get_running_loop().create_task(two.campaign())
        await clock.sleep(1)
        assert not waiting.done()
        await one.resign()
        won = await waiting
        assert won.node_id == 2

    run(main(), clock=clock)


def test_a_reader_behind_a_trimmed_log_is_told_to_reload() -> None:
    clock, store = _store()

    async def main() -> None:
        log = MemoryMetadataLog(store)
        leader = await MemoryControllerElection(store, 1).campaign()
        await log.append(leader, [b"a", b"b", b"c"], 0)
        store.trim(2)
        with pytest.raises(LogGapError):
            async for _ in log.follow(0):
                pass

    run(main(), clock=clock)
