"""One process per data directory: Kafka's ``.lock`` file in each log directory.

Two brokers on the same directory — ``brook up`` started twice, a supervisor restarting a
broker whose predecessor still runs, two node configs pointing at one disk — would both recover,
append to and truncate the same segments: acknowledged records lost, indexes corrupted. The
second process must refuse to start, before it touches a file. An exclusive ``flock`` on
``<dir>/.lock`` says so, and the kernel releases it when its holder dies however it dies, so a
broker restarted after a kill -9 is never locked out by a stale file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from brook.storage.errors import LogDirError

__all__ = ["LOCK_FILE", "DirLocks"]

LOCK_FILE = ".lock"


class DirLocks:
    """Locks held on ``dirs`` (created if missing) until ``release`` or the process ends."""

    def __init__(self, dirs: list[Path]) -> None:
        self._fds: list[int] = []
        try:
            for d in dict.fromkeys(Path(p).resolve() for p in dirs):
                self._fds.append(_lock(d))
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)  # closing the descriptor drops its flock


def _lock(directory: Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LogDirError(f"cannot lock data directory {directory}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise LogDirError(
            f"data directory {directory} is in use by another broker process (it holds "
            f"{directory / LOCK_FILE}); stop it first or give this broker another log.dirs"
        ) from exc
    return fd
