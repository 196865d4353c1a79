"""The log manager's background task on a virtual-time loop: its waits go through the clock.

An hour of background rounds (flush checks every second, retention checks every five minutes)
passes in virtual time; the segment past retention.ms goes at the first retention check
strictly after it expired, and nothing of the wait is real time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from brook.testing import vtime
from brook.testing.clock import VirtualClock
from tests.support.storage_batches import make_batch

MIN = 60_000


def test_background_retention_runs_in_virtual_time(tmp_path: Path) -> None:
    clock = VirtualClock()
    start = clock.now_ms()
    manager = LogManager([tmp_path], {"log.retention.check.interval.ms": str(5 * MIN)},
                         clock.now_ms, timers=clock)
    manager.startup()
    log = manager.get_or_create_log("t", 0, LogConfig.from_props({"retention.ms": str(10 * MIN)}))
    log.append_as_leader(memoryview(make_batch(1, timestamp=start)), 0, start)
    log.roll(start)

    async def hour() -> tuple[int, int]:
        stop = asyncio.Event()
        task = asyncio.create_task(manager.run_background(stop))
        # Checks fall at 5, 10, 15 minutes: at 10 the segment is exactly retention.ms old
        # (kept, as in Kafka), at 15 it is past it.
        await asyncio.sleep(15 * 60 - 0.5)
        before = log.log_start_offset
        await asyncio.sleep(1)
        after = log.log_start_offset
        await asyncio.sleep(45 * 60)
        stop.set()
        await task
        await manager.shutdown()
        return before, after

    started = time.perf_counter()
    assert vtime.run(hour(), clock=clock) == (0, 1)
    assert clock.elapsed_ms() >= 60 * MIN
    assert time.perf_counter() - started < 5
