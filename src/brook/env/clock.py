"""Time, behind one door.

Every component that needs the time asks a ``Clock`` instead of calling ``time`` directly, so
that a simulated clock can replace the real one in deterministic tests (docs/architecture.md, Rules).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock milliseconds (for record timestamps and retention) and a monotonic clock
    (for timeouts and intervals, immune to wall-clock steps)."""

    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
