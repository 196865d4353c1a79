"""A recording file layer for crash tests: what would a power failure leave on disk?

``FaultFs`` wraps the functions of :mod:`brook.env.fs` (``install`` swaps them in, ``restore``
puts the real ones back). For every file written or synced through the door it remembers the
bytes that were on stable storage at its last ``fsync``/``fdatasync``; for each segment file
created through the door it remembers whether its directory was synced since. It can also make
the next data sync fail with ``EIO``.

``power_loss(directory, torn)`` then rewrites a directory as a power failure could leave it:

* a file created through the door whose directory was never synced afterwards vanishes;
* every other tracked file is cut back to its synced bytes, plus, for an append-only file,
  the fraction ``torn`` (0..1) of the bytes written after its last sync (a torn write: the
  page cache reached the disk only in part);
* untracked files (renamed-into-place checkpoints, whose data was synced before the rename)
  are left alone.

Assumptions, kept simple on purpose: truncation and renames are durable when they return (as
with a journaling file system); a failed sync leaves the previous synced bytes in place and a
later successful sync persists everything (no lost dirty pages).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from brook.env import fs

__all__ = ["FaultFs"]


@dataclass
class _FileState:
    synced: bytes = b""
    written_through_door: bool = False
    entry_synced: bool = True
    """False from the door's first write to a new file until its directory is synced."""


def _path_of(fd: int) -> Path:
    return Path(os.readlink(f"/proc/self/fd/{fd}"))


class FaultFs:
    """Install with ``install()``; always ``restore()`` (or use as a context manager)."""

    def __init__(self) -> None:
        self.files: dict[Path, _FileState] = {}
        self.fail_syncs = 0
        """How many of the next file syncs fail with EIO (directories always succeed)."""
        self.failed_syncs = 0
        self._lock = threading.Lock()  # flushes run on worker threads in the broker
        self._saved: tuple[Callable[..., int], Callable[[int], None], Callable[[int], None]] | None
        self._saved = None

    # -- installation ------------------------------------------------------------------------

    def install(self) -> FaultFs:
        self._saved = (fs.pwrite, fs.fsync, fs.fdatasync)
        fs.pwrite = self._pwrite  # type: ignore[assignment]
        fs.fsync = self._sync
        fs.fdatasync = self._sync
        return self

    def restore(self) -> None:
        if self._saved is not None:
            fs.pwrite, fs.fsync, fs.fdatasync = self._saved  # type: ignore[assignment]
            self._saved = None

    def __enter__(self) -> FaultFs:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()

    # -- the wrapped operations ----------------------------------------------------------------

    def _pwrite(self, fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
        path = _path_of(fd)
        with self._lock:
            state = self.files.get(path)
            if state is None:
                existed_before = os.fstat(fd).st_size > 0
                state = self.files[path] = _FileState(entry_synced=existed_before)
                if existed_before:
                    state.synced = path.read_bytes()  # on disk before we started watching
            state.written_through_door = True
        return os.pwrite(fd, data, offset)

    def _sync(self, fd: int) -> None:
        mode = os.fstat(fd).st_mode
        path = _path_of(fd)
        if stat.S_ISDIR(mode):
            os.fsync(fd)
            with self._lock:
                for file_path, state in self.files.items():
                    if file_path.parent == path:
                        state.entry_synced = True
            return
        with self._lock:
            if self.fail_syncs > 0:
                self.fail_syncs -= 1
                self.failed_syncs += 1
                raise OSError(errno.EIO, "injected fsync failure", str(path))
        os.fsync(fd)
        content = path.read_bytes()
        with self._lock:
            state = self.files.setdefault(path, _FileState())
            state.synced = content

    # -- what a power failure leaves --------------------------------------------------------------

    def power_loss(self, directory: Path, torn: float = 0.0) -> list[str]:
        """Rewrite ``directory``'s tracked files as a power failure leaves them; the caller
        must have released every descriptor first (a crash). Returns what was changed."""
        changed: list[str] = []
        with self._lock:
            for path, state in list(self.files.items()):
                if path.parent != directory or not path.exists():
                    continue
                if not state.entry_synced:
                    path.unlink()
                    changed.append(f"{path.name}: entry lost")
                    del self.files[path]
                    continue
                current = path.read_bytes()
                synced = state.synced
                if not current.startswith(synced):  # truncated since: truncation is durable
                    n = 0
                    limit = min(len(current), len(synced))
                    while n < limit and current[n] == synced[n]:
                        n += 1
                    synced = synced[:n]
                tail = len(current) - len(synced)
                keep = synced + current[len(synced):len(synced) + int(tail * torn)]
                if keep != current:
                    path.write_bytes(keep)
                    changed.append(f"{path.name}: {len(current)} -> {len(keep)} bytes")
                state.synced = keep
        return changed

    def forget(self, directory: Path) -> None:
        """Stop tracking the files of ``directory`` (it was deleted or replaced)."""
        with self._lock:
            for path in [p for p in self.files if p.parent == directory]:
                del self.files[path]
