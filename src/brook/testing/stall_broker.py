"""``python -m brook.testing.stall_broker --stall-file F [brook broker flags]``: a slow disk.

The same broker as ``brook broker``, except that every write and sync through the durability
door (:mod:`brook.env.fs`: segment ``pwrite``, ``fsync``, ``fdatasync``) first sleeps for the
number of milliseconds in the control file ``F`` (none while it is absent, empty or 0). A
test writes the file (:func:`write_stall`) to make the disk of a running broker slow — a
stalled device, writeback throttling, a saturated volume — and writes 0 to make it fast again.
Segment appends run on the broker's event loop, so a stall there holds the whole broker as a
stuck disk holds Kafka's request handlers; syncs on flush threads hold only the flushes.

The file is re-read when its modification time changes, checked at most every 20 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brook.broker import main as broker_main
from brook.env import fs

__all__ = ["StallFs", "read_stall", "write_stall"]

_CHECK_EVERY_S = 0.02


def read_stall(path: Path) -> int:
    """Milliseconds each disk operation waits; 0 when the file is absent or empty."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return 0
    return max(int(text), 0) if text else 0


def write_stall(path: Path, ms: int) -> None:
    """Set the stall atomically (a sibling renamed over it: a reader never sees half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{ms}\n")
    os.replace(tmp, path)


class StallFs:
    """Wraps the functions of :mod:`brook.env.fs` with a sleep read from a control file."""

    def __init__(self, control_file: Path) -> None:
        self.control_file = control_file
        self.stalled_ops = 0
        self._lock = threading.Lock()  # flush threads and the event loop both write
        self._ms = read_stall(control_file)
        self._mtime_ns = self._stat()
        self._checked = time.monotonic()
        self._saved: tuple[Any, Any, Any] | None = None

    def _stat(self) -> int:
        try:
            return self.control_file.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def stall_ms(self) -> int:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= _CHECK_EVERY_S:
                self._checked = now
                mtime = self._stat()
                if mtime != self._mtime_ns:
                    self._mtime_ns = mtime
                    self._ms = read_stall(self.control_file)
            return self._ms

    def _slow(self, op: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any) -> Any:
            ms = self.stall_ms()
            if ms:
                self.stalled_ops += 1
                time.sleep(ms / 1000)
            return op(*args)
        return wrapped

    def install(self) -> StallFs:
        self._saved = (fs.pwrite, fs.fsync, fs.fdatasync)
        fs.pwrite = self._slow(fs.pwrite)  # type: ignore[method-assign]
        fs.fsync = self._slow(fs.fsync)  # type: ignore[method-assign]
        fs.fdatasync = self._slow(fs.fdatasync)  # type: ignore[method-assign]
        return self

    def restore(self) -> None:
        if self._saved is not None:
            fs.pwrite, fs.fsync, fs.fdatasync = self._saved
            self._saved = None

    def __enter__(self) -> StallFs:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--stall-file", required=True, type=Path)
    known, rest = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    StallFs(known.stall_file).install()
    return broker_main.main(rest, prog="python -m brook.testing.stall_broker")


if __name__ == "__main__":
    raise SystemExit(main())
