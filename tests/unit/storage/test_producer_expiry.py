"""producer.id.expiration.ms: idle idempotent producers are forgotten, periodically and on load.

Time is a ``brook.env`` clock the test moves by days; the log manager's background task runs
for real on an event loop, so a test of two days takes milliseconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import make_batch

DAY_MS = 86_400_000
START_MS = 1_700_000_000_000


def produce_as(log: Log, producer_id: int, now_ms: int, sequence: int = 0) -> None:
    batch = make_batch(1, producer_id=producer_id, producer_epoch=0, base_sequence=sequence,
                       timestamp=now_ms)
    log.append_as_leader(memoryview(batch), 0, now_ms)


def test_background_task_expires_idle_producers(tmp_path: Path) -> None:
    clock = VirtualClock(START_MS)
    manager = LogManager([tmp_path], {"log.flush.scheduler.interval.ms": "10"}, clock.now_ms)
    manager.startup()
    log = manager.get_or_create_log("t", 0)
    for pid in range(1_000):  # many short-lived producers
        produce_as(log, pid, clock.now_ms())

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        await asyncio.sleep(0.02)

        async def ticks(n: int = 3) -> None:
            for _ in range(n):
                await asyncio.sleep(0.03)

        clock.advance(DAY_MS // 2)
        produce_as(log, 5_000, clock.now_ms())  # one producer stays active
        await ticks()
        assert len(log.producer_state.active_producers) == 1_001  # nobody idle for a day yet
        clock.advance(DAY_MS // 2 + 600_000)  # a day and one check interval since the first
        await ticks()
        assert set(log.producer_state.active_producers) == {5_000}
        clock.advance(2 * DAY_MS)
        await ticks()
        assert not log.producer_state.active_producers
        stop.set()
        await task

    asyncio.run(scenario())


def test_expiry_check_interval_is_respected(tmp_path: Path) -> None:
    clock = VirtualClock(START_MS)
    manager = LogManager(
        [tmp_path],
        {"producer.id.expiration.ms": "1000", "producer.id.expiration.check.interval.ms": "60000",
         "log.flush.scheduler.interval.ms": "10"},
        clock.now_ms,
    )
    manager.startup()
    log = manager.get_or_create_log("t", 0)
    produce_as(log, 1, clock.now_ms())

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        await asyncio.sleep(0.02)  # the task starts its schedule at the current time
        clock.advance(30_000)  # expired, but the next check is due at 60 s
        await asyncio.sleep(0.05)
        assert 1 in log.producer_state.active_producers
        clock.advance(30_000)
        for _ in range(20):
            await asyncio.sleep(0.02)
            if 1 not in log.producer_state.active_producers:
                break
        assert 1 not in log.producer_state.active_producers
        stop.set()
        await task

    asyncio.run(scenario())


def test_snapshots_shrink_once_producers_expire(tmp_path: Path) -> None:
    clock = VirtualClock(START_MS)
    log = Log.open(tmp_path / "t-0", LogConfig.default(), recovery_point=0, log_start_offset=0,
                   clean_shutdown=True, now_ms=clock.now_ms())
    for pid in range(500):
        produce_as(log, pid, clock.now_ms())
    log.roll(clock.now_ms())
    log.flush()
    first = log.producer_state.snapshot_offsets()[-1]
    clock.advance(2 * DAY_MS)
    produce_as(log, 9_999, clock.now_ms())
    assert log.remove_expired_producers(clock.now_ms(), DAY_MS) == list(range(500))
    log.roll(clock.now_ms())
    log.flush()
    second = log.producer_state.snapshot_offsets()[-1]
    size = (tmp_path / "t-0" / f"{second:020d}.snapshot").stat().st_size
    assert size < (tmp_path / "t-0" / f"{first:020d}.snapshot").stat().st_size / 100


def test_expired_producers_are_dropped_when_a_snapshot_is_loaded(tmp_path: Path) -> None:
    clock = VirtualClock(START_MS)
    manager = LogManager([tmp_path], {}, clock.now_ms)
    manager.startup()
    log = manager.get_or_create_log("t", 0)
    produce_as(log, 1, clock.now_ms())
    clock.advance(DAY_MS)
    produce_as(log, 2, clock.now_ms())
    asyncio.run(manager.shutdown())  # clean: a snapshot at the log end holds both producers

    clock.advance(DAY_MS // 2)
    restarted = LogManager([tmp_path], {}, clock.now_ms)
    restarted.startup()
    reopened = restarted.get_log("t", 0)
    assert reopened is not None
    assert set(reopened.producer_state.active_producers) == {2}
