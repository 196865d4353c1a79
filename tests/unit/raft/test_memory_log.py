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


def test_a_lease_election_renews_itself_until_its_node_is_paused_past_the_ttl() -> None:
    """Renewing by itself, a leader keeps its lease for as long as it runs; paused (its store
    calls held back) past the TTL, another node is elected, and on resuming the first learns
    it lost (``wait_lost``) and its append is refused."""
    from brook.raft.memory_log import MemoryLeaseElection

    clock, store = _store()
    paused_until = 0.0

    async def gate() -> None:
        while clock.monotonic() < paused_until:
            await clock.sleep(paused_until - clock.monotonic())

    async def main() -> None:
        nonlocal paused_until
        log = MemoryMetadataLog(store, gate)
        first = MemoryLeaseElection(store, 1, ttl_s=3, gate=gate)
        leader = await first.campaign()
        await clock.sleep(30)
        assert not first.lost()
        await log.append(leader, [b"a"], 0)
        paused_until = clock.monotonic() + 10
        second = MemoryLeaseElection(store, 2, ttl_s=3)
        other = await asyncio.wait_for(second.campaign(), 5)
        assert other.epoch > leader.epoch
        await asyncio.wait_for(first.wait_lost(), 20)
        assert first.lost()
        with pytest.raises(NotControllerError):
            await log.append(leader, [b"zombie"], 1)
        await second.resign()
        await first.resign()

    run(main(), clock=clock)


def test_a_registration_taken_over_while_paused_is_reported_lost() -> None:
    """Paused past its session, a broker's registration lapses and a new incarnation takes
    the node id; resumed, the first finds it replaced (``wait_lost``) instead of
    registering again, and the new one keeps the key."""
    from brook.raft.memory_registry import MemoryBrokerRegistry

    clock, store = _store()
    paused_until = 0.0

    async def gate() -> None:
        while clock.monotonic() < paused_until:
            await clock.sleep(paused_until - clock.monotonic())

    async def main() -> None:
        nonlocal paused_until
        old = MemoryBrokerRegistry(store, 3, gate)
        await old.register(1, b"old")
        await clock.sleep(20)
        assert store.live_registrations()[1][0] == b"old"
        paused_until = clock.monotonic() + 10
        new = MemoryBrokerRegistry(store, 3)
        await asyncio.wait_for(new.register(1, b"new"), 9)
        exc = await asyncio.wait_for(old.wait_lost(), 20)
        assert "was registered by another broker" in str(exc)
        assert store.live_registrations()[1][0] == b"new"
        await new.deregister()
        await old.deregister()

    run(main(), clock=clock)
