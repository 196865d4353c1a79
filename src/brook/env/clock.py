"""Time, behind one door.

Every component that needs the time asks a ``Clock`` instead of calling ``time`` directly, so
that a simulated clock can replace the real one in deterministic tests (docs/architecture.md,
Rules). The door covers readings (``now_ms``, ``monotonic``) and waiting (``call_later``,
``sleep``, ``wait_for``): a component that schedules through its clock runs unchanged on the
real clock and on a virtual one, where hours of timeouts, retention and expiry pass in
milliseconds (``brook.testing.vtime``).

The production clocks wait on the running event loop's timers, so their waits follow the
loop's time: real time on a normal loop, virtual time on a virtual-time loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class TimerHandle(Protocol):
    """A scheduled callback that can be called off (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Wall-clock milliseconds (for record timestamps and retention), a monotonic clock (for
    timeouts and intervals, immune to wall-clock steps) and the timers that wait on it."""

    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...

    def call_later(self, delay_s: float, callback: Callable[..., object],
                   *args: Any) -> TimerHandle:
        """Run ``callback(*args)`` on the event loop once ``delay_s`` seconds have passed."""
        ...

    async def sleep(self, delay_s: float) -> None: ...

    async def wait_for(self, aw: Awaitable[T], timeout_s: float) -> T:
        """``aw``'s result, or ``TimeoutError`` (``aw`` cancelled) after ``timeout_s``."""
        ...


class LoopTimers:
    """Timers on the running event loop: what a production clock waits with."""

    __slots__ = ()

    def call_later(self, delay_s: float, callback: Callable[..., object],
                   *args: Any) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay_s, 0.0), callback, *args)

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(max(delay_s, 0.0))

    async def wait_for(self, aw: Awaitable[T], timeout_s: float) -> T:
        return await asyncio.wait_for(aw, max(timeout_s, 0.0))


class SystemClock(LoopTimers):
    """The real clock."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
