"""Clocks for tests: a virtual one for in-process tests, a warpable one for broker processes.

Both satisfy :class:`brook.env.Clock`, so anything built on the broker's clock door (retention,
segment roll by time, cleaner lag, producer-id expiry, group offset retention, fetch waits,
the log manager's background intervals) follows them.

``WarpClock`` is the real clock plus an offset that a test controls from outside the process
through a small control file (``write_warp``): the test can move a running broker eight days
ahead in a second, then restart it on the same file so time never runs backwards across
restarts. The offset applies to wall-clock and monotonic readings alike: a warp is time that
passed. Nothing in production imports this module.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

__all__ = ["VirtualClock", "WarpClock", "read_warp", "write_warp"]

_RECHECK_S = 0.02
"""How often (real seconds) a ``WarpClock`` looks at its control file."""


class VirtualClock:
    """A clock that moves only when told to (``advance``): deterministic unit tests."""

    __slots__ = ("_mono", "_ms")

    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self._ms = now_ms
        self._mono = 1_000.0

    def now_ms(self) -> int:
        return self._ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("time does not run backwards")
        self._ms += ms
        self._mono += ms / 1000.0


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


class WarpClock:
    """The system clock shifted by the offset in ``control_file`` (re-read every 20 ms).

    The offset may only grow: a smaller value in the file is ignored, so the broker's time
    never goes backwards even if a test rewrites the file carelessly.
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
