"""A replica fetcher stops even when its cancellation is swallowed: Python 3.11's
``asyncio.wait_for`` returns normally when a cancellation lands just as its inner wait
completes, and a fetcher loop that only relied on the cancellation then ran on, so a broker
stopping on SIGTERM never exited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from brook.env import SYSTEM_CLOCK
from brook.replication.fetcher import ReplicaFetcher
from brook.replication.fetcher_manager import fetcher_config
from brook.replication.follower import FollowedPartition
from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig

T = TypeVar("T")


class _SwallowingClock:
    """The system clock, whose ``wait_for`` swallows the first cancellation it sees, as
    ``asyncio.wait_for`` does when the cancellation races the inner wait's completion."""

    def __init__(self) -> None:
        self.swallowed = 0

    def now_ms(self) -> int:
        return SYSTEM_CLOCK.now_ms()

    def monotonic(self) -> float:
        return SYSTEM_CLOCK.monotonic()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)

    async def wait_for(self, aw: Awaitable[T], timeout_s: float) -> T:
        try:
            return await asyncio.wait_for(aw, timeout_s)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed += 1
            raise TimeoutError from None


def test_a_fetcher_whose_cancellation_is_swallowed_still_stops(tmp_path: Path) -> None:
    clock = _SwallowingClock()
    plog = Log.open(tmp_path / "t-0", LogConfig.default(), recovery_point=0,
                    log_start_offset=0, clean_shutdown=True, now_ms=0)
    part = Partition(TopicPartition("t", 0), b"\x01" * 16, plog, node_id=1, leader=2,
                     leader_epoch=0, replicas=(1, 2), isr=(1, 2))

    async def body() -> None:
        fetcher = ReplicaFetcher(1, 2, fetcher_config({}), clock,  # type: ignore[arg-type]
                                 lambda *a: None, lambda: 1)  # type: ignore[arg-type,return-value]
        fetcher.set_endpoint("127.0.0.1", 9)
        state = FollowedPartition.start(part, 0)
        state.delayed_until = clock.monotonic() + 3600  # backing off: idle in clock.wait_for
        fetcher.add(state)
        fetcher.start()
        await asyncio.sleep(0.05)
        task = fetcher._task
        assert task is not None
        stopping = asyncio.ensure_future(fetcher.stop())
        done, _ = await asyncio.wait((stopping,), timeout=2)
        assert stopping in done and task.done(), "the fetcher loop ran on after stop()"

    asyncio.run(body())
