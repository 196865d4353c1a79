"""An asyncio event loop that runs in virtual time: hours of timeouts in milliseconds.

``VirtualTimeLoop`` is a selector event loop whose ``time()`` is a :class:`VirtualClock`'s
monotonic reading. Whenever nothing is ready to run and no worker thread it started is still
busy, the loop does not sleep: it moves the clock to the next deadline (its own timer heap's
or the clock's) and carries on. ``asyncio.sleep``, ``asyncio.wait_for`` timeouts,
``loop.call_later`` and everything scheduled through the clock door therefore run in virtual
time, in deadline order, and a week of retention or session expiry passes in as long as the
work done at each deadline takes.

What it is for: in-process tests and simulations whose only outside world is files and
worker threads. Work handed to ``run_in_executor`` / ``asyncio.to_thread`` takes no virtual
time: while any is in flight the loop waits for it in real time instead of jumping. Sockets
still work, but a peer in another process runs in real time, so a wait on one is never
jumped over only while other events are pending — keep networked peers off this loop.

Use ``run(main, clock=...)`` like ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar, TypeVarTuple

from brook.testing.clock import VirtualClock

__all__ = ["VirtualTimeLoop", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _JumpingSelector(selectors.BaseSelector):
    """The real selector, asked without blocking; an idle wait becomes a clock jump."""

    def __init__(self, clock: VirtualClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self.busy: Callable[[], bool] = lambda: False

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events or (timeout is not None and timeout <= 0):
            return events
        if self.busy():
            # A worker thread's result arrives through the loop's self-pipe: wait for it
            # (really) rather than let virtual time run on while it works.
            return self._real.select(None)
        clock_next = self._clock.next_timer_s()
        steps = [s for s in (timeout, clock_next) if s is not None]
        if not steps:
            return self._real.select(None)  # nothing scheduled: only another thread can help
        self._clock.advance_s(min(steps))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """See the module docstring. ``virtual_clock`` is the clock the loop reads and moves."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.virtual_clock = clock if clock is not None else VirtualClock()
        self._in_flight = 0
        selector = _JumpingSelector(self.virtual_clock)
        selector.busy = lambda: self._in_flight > 0
        super().__init__(selector)

    def time(self) -> float:
        return self.virtual_clock.monotonic()

    def run_in_executor(self, executor: concurrent.futures.Executor | None,
                        func: Callable[[*Ts], T], *args: *Ts) -> asyncio.Future[T]:
        fut = super().run_in_executor(executor, func, *args)
        self._in_flight += 1
        fut.add_done_callback(self._executor_done)
        return fut

    def _executor_done(self, _: asyncio.Future[Any]) -> None:
        self._in_flight -= 1


def run(main: Coroutine[Any, Any, T], *, clock: VirtualClock | None = None) -> T:
    """``asyncio.run`` on a fresh ``VirtualTimeLoop`` (driven by ``clock`` if given)."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(main)
