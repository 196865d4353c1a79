"""Clocks for tests: a virtual one for in-process tests, a warpable one for broker processes.

Both satisfy :class:`brook.env.Clock`, so anything built on the broker's clock door (retention,
segment roll by time, cleaner lag, producer-id expiry, group offset retention, fetch waits,
the log manager's background intervals, the group coordinator's timers) follows them. A
``VirtualClock`` also drives a virtual-time event loop (:mod:`brook.testing.vtime`).

``WarpClock`` is the real clock plus an offset that a test controls from outside the process
through a small control file (``write_warp``): the test can move a running broker eight days
ahead in a second, then restart it on the same file so time never runs backwards across
restarts. The offset applies to wall-clock and monotonic readings alike: a warp is time that
passed. Nothing in production imports this module.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from brook.env.clock import LoopTimers, TimerHandle

T = TypeVar("T")

__all__ = ["VirtualClock", "WarpClock", "read_warp", "write_warp"]

_RECHECK_S = 0.02
"""How often (real seconds) a ``WarpClock`` looks at its control file."""


class VirtualClock:
    """A clock that moves only when told to: deterministic tests.

    Time moves by ``advance`` (a test stepping it) or, under a
    :class:`~brook.testing.vtime.VirtualTimeLoop` driven by this clock, by the loop jumping
    to its next timer whenever nothing is ready. Timers scheduled through the clock
    (``call_later``, ``sleep``, ``wait_for``) run on that loop's timer heap when the clock
    drives the running loop, and otherwise on the clock's own heap, where ``advance`` fires
    them in deadline order with the clock set to each one's deadline.
    """

    __slots__ = ("_heap", "_ns", "_seq", "_start_ms")

    _MONO_START_S = 1_000.0

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._start_ms = now_ms
        self._ns = 0  # virtual nanoseconds since construction
        self._heap: list[tuple[int, int, _VirtualTimer]] = []
        self._seq = 0

    # -- readings -----------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self._start_ms + self._ns // 1_000_000

    def monotonic(self) -> float:
        return self._MONO_START_S + self._ns / 1e9

    def elapsed_ms(self) -> int:
        """Virtual milliseconds since the clock was made."""
        return self._ns // 1_000_000

    # -- moving -------------------------------------------------------------------------------
    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not run backwards")
        self._advance_ns(ms * 1_000_000)

    def advance_s(self, seconds: float) -> None:
        """Move ahead by at least ``seconds`` (rounded up to the next nanosecond)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        self._advance_ns(math.ceil(seconds * 1e9) + 1)

    def _advance_ns(self, delta_ns: int) -> None:
        target = self._ns + delta_ns
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._ns = max(self._ns, when)
            timer.run()
        self._ns = target

    def next_timer_s(self) -> float | None:
        """Seconds until the clock's own next timer, or None when it has none."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            return None
        return max(self._heap[0][0] - self._ns, 0) / 1e9

    # -- timers -------------------------------------------------------------------------------
    def _drives_running_loop(self) -> bool:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return getattr(loop, "virtual_clock", None) is self

    def call_later(self, delay_s: float, callback: Callable[..., object],
                   *args: Any) -> TimerHandle:
        if self._drives_running_loop():
            return asyncio.get_running_loop().call_later(max(delay_s, 0.0), callback, *args)
        timer = _VirtualTimer(callback, args)
        self._seq += 1
        when = self._ns + max(math.ceil(delay_s * 1e9), 0)
        heapq.heappush(self._heap, (when, self._seq, timer))
        return timer

    async def sleep(self, delay_s: float) -> None:
        if self._drives_running_loop():
            await asyncio.sleep(max(delay_s, 0.0))
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        handle = self.call_later(delay_s, _resolve, fut)
        try:
            await fut
        finally:
            handle.cancel()

    async def wait_for(self, aw: Awaitable[T], timeout_s: float) -> T:
        if self._drives_running_loop():
            return await asyncio.wait_for(aw, max(timeout_s, 0.0))
        task = asyncio.ensure_future(aw)
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = self.call_later(timeout_s, expire)
        try:
            return await task
        except asyncio.CancelledError:
            if expired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class _VirtualTimer:
    """One callback on a ``VirtualClock``'s own heap."""

    __slots__ = ("args", "callback", "cancelled")

    def __init__(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def run(self) -> None:
        """Run the callback; inside an event loop a failure goes to the loop's exception
        handler (as a loop timer's would), outside one it propagates to ``advance``."""
        try:
            self.callback(*self.args)
        except Exception as exc:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise exc from None
            loop.call_exception_handler({"message": "virtual timer callback failed",
                                         "exception": exc})


def read_warp(path: Path) -> int:
    """The offset (ms) in a control file; 0 when it does not exist yet."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text else 0


def write_warp(path: Path, offset_ms: int) -> None:
    """Set the offset atomically (write a sibling, rename over), so a reader never sees half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{offset_ms}\n")
    os.replace(tmp, path)


class WarpClock(LoopTimers):
    """The system clock shifted by the offset in ``control_file`` (re-read every 20 ms).

    The offset may only grow: a smaller value in the file is ignored, so the broker's time
    never goes backwards even if a test rewrites the file carelessly. Its timers are the event
    loop's (real time): a warp moves readings, and a wait that re-reads the clock (a fetch's
    long poll, the log manager's intervals) sees the jump on its next wake-up.
    """

    def __init__(self, control_file: Path) -> None:
        self.control_file = Path(control_file)
        self._lock = threading.Lock()  # flushes read the clock from worker threads too
        self._offset_ms = max(read_warp(self.control_file), 0)
        self._checked = time.monotonic()
        self._mtime_ns = self._stat()

    def _stat(self) -> int:
        try:
            return self.control_file.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def offset_ms(self) -> int:
        real = time.monotonic()
        if real - self._checked >= _RECHECK_S:
            with self._lock:
                self._checked = real
                mtime = self._stat()
                if mtime != self._mtime_ns:
                    self._mtime_ns = mtime
                    try:
                        self._offset_ms = max(self._offset_ms, read_warp(self.control_file))
                    except (OSError, ValueError):
                        pass  # being replaced: the next check reads it
        return self._offset_ms

    def now_ms(self) -> int:
        offset = self.offset_ms()
        return time.time_ns() // 1_000_000 + offset

    def monotonic(self) -> float:
        offset = self.offset_ms()
        return time.monotonic() + offset / 1000.0
