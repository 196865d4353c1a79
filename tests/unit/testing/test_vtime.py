"""The virtual-time event loop and the clock door's timers.

``VirtualTimeLoop`` must jump over idle waits (sleep, wait_for, call_later) in deadline order,
never jump while a worker thread it started is busy, and fire a ``VirtualClock``'s own timers;
a ``VirtualClock`` used on an ordinary loop fires its timers as a test advances it; the system
clock's timers are the loop's.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from brook.coordinator.runtime import EventLoopTimer
from brook.env import SYSTEM_CLOCK
from brook.testing import vtime
from brook.testing.clock import VirtualClock

DAY_S = 86_400


def test_sleep_and_wait_for_pass_a_day_in_virtual_time() -> None:
    clock = VirtualClock()

    async def main() -> tuple[int, int]:
        await asyncio.sleep(DAY_S)
        slept = clock.elapsed_ms()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never, 3 * DAY_S)
        return slept, clock.elapsed_ms()

    started = time.perf_counter()
    slept, timed_out = vtime.run(main(), clock=clock)
    assert (slept, timed_out) == (DAY_S * 1000, 4 * DAY_S * 1000)
    assert time.perf_counter() - started < 0.5


def test_timers_fire_in_deadline_order_at_their_deadlines() -> None:
    clock = VirtualClock()
    fired: list[tuple[str, int]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(7.5, lambda: fired.append(("loop-7.5s", clock.elapsed_ms())))
        clock.call_later(2.0, lambda: fired.append(("clock-2s", clock.elapsed_ms())))
        cancelled = clock.call_later(3.0, lambda: fired.append(("cancelled", 0)))
        cancelled.cancel()
        await clock.sleep(5)
        fired.append(("slept-5s", clock.elapsed_ms()))
        with pytest.raises(TimeoutError):
            await clock.wait_for(asyncio.Event().wait(), 10)
        fired.append(("waited-10s", clock.elapsed_ms()))

    vtime.run(main(), clock=clock)
    assert fired == [("clock-2s", 2000), ("slept-5s", 5000), ("loop-7.5s", 7500),
                     ("waited-10s", 15000)]


def test_no_jump_while_a_worker_thread_is_busy() -> None:
    clock = VirtualClock()
    release = threading.Event()
    order: list[str] = []

    def work() -> None:
        release.wait(5)
        order.append("thread")

    async def main() -> None:
        clock.call_later(60, lambda: order.append("timer"))
        asyncio.get_running_loop().call_soon(release.set)
        await asyncio.to_thread(work)
        assert clock.elapsed_ms() == 0  # a thread's work takes no virtual time
        await asyncio.sleep(61)

    vtime.run(main(), clock=clock)
    assert order == ["thread", "timer"]


def test_a_virtual_clock_on_an_ordinary_loop_fires_as_it_is_advanced() -> None:
    clock = VirtualClock()
    results: list[tuple[str, int]] = []

    async def main() -> None:
        timer = EventLoopTimer(lambda result: None, clock)
        timer.schedule("a", 1000, lambda: results.append(("a", clock.elapsed_ms())))
        timer.schedule("b", 500, lambda: results.append(("b", clock.elapsed_ms())))
        timer.schedule("a", 2000, lambda: results.append(("a2", clock.elapsed_ms())))
        assert timer.is_scheduled("a")
        sleeper = asyncio.ensure_future(clock.sleep(1.5))
        waiter = asyncio.ensure_future(clock.wait_for(asyncio.Event().wait(), 1.0))
        await asyncio.sleep(0)
        clock.advance(1200)
        for _ in range(3):
            await asyncio.sleep(0)
        assert waiter.done() and isinstance(waiter.exception(), TimeoutError)
        assert not sleeper.done()
        clock.advance(1000)
        await sleeper
        assert not timer.is_scheduled("a")

    asyncio.run(main())
    assert results == [("b", 500), ("a2", 2000)]


def test_the_system_clock_waits_on_the_running_loop() -> None:
    async def main() -> list[str]:
        seen: list[str] = []
        SYSTEM_CLOCK.call_later(0.01, seen.append, "later")
        await SYSTEM_CLOCK.sleep(0.05)
        with pytest.raises(TimeoutError):
            await SYSTEM_CLOCK.wait_for(asyncio.Event().wait(), 0.01)
        return seen

    assert asyncio.run(main()) == ["later"]
    # On a virtual-time loop the same calls follow virtual time.
    clock = VirtualClock()

    async def virtual() -> int:
        await SYSTEM_CLOCK.sleep(3600)
        return clock.elapsed_ms()

    assert vtime.run(virtual(), clock=clock) == 3_600_000
