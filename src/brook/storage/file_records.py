"""Kafka's ``FileRecords``: the ``.log`` file of one segment, its descriptor and its maps.

Writes: one ``os.pwrite`` per append at the tracked size (not ``O_APPEND``, so recovery and
truncation can set the size), on a descriptor opened on first use (thousands of idle
partitions hold no descriptors). A failed write is undone by truncating back, so the file
never keeps half a request.

Reads: views over an ``mmap`` of the file, or a small ``os.pread`` copy. Measured on the
development machine (``bench`` numbers in the storage notes): mapping a 200 MiB file, taking a
view and unmapping costs ~16 us, while ``pread`` costs 0.5 us for 1 KiB and 2 us for 64 KiB.
So a read of at most 64 KiB that reaches past the current map (the hot tail a caught-up
consumer asks for) is a ``pread``; larger reads, and reads inside the current map, are
zero-copy views that uvloop sends straight from the page cache. Header scans past the map
use 43-byte preads for the same reason. ``madvise(WILLNEED)`` is issued for large reads that
start well behind the end (catch-up reads of likely cold data, whose page faults would
otherwise stall the event loop); for warm data it costs ~15 us per MiB, so the hot tail
skips it.

Maps are never closed while views may exist (``mmap.close()`` would raise ``BufferError``):
a remap only drops the reference and refcounting unmaps the old map when its last view
goes. Shrinking the file is the one dangerous operation (pages past the new end would SIGBUS
a reader), so :meth:`truncate_to` first closes every map it made; if one refuses because a
view is alive and it covers bytes past the new end, the surviving prefix is copied to a new
file renamed over the old one, leaving the old inode intact for those readers.

Concurrency: event-loop thread only, except :meth:`flush`, which fsyncs a ``dup`` of the
descriptor taken under ``_fd_lock`` (``close`` takes it too) so a worker thread never syncs a
closed or recycled descriptor.
"""

from __future__ import annotations

import mmap
import os
import struct
import weakref
from collections.abc import Generator
from pathlib import Path
from threading import Lock

from brook.env import fs
from brook.records.batch import LOG_OVERHEAD, BatchHeader, iter_batches
from brook.storage.errors import LogDirError

__all__ = ["SCAN_HEADER", "FileRecords"]

SCAN_HEADER = struct.Struct(">qi11xi8xq")
"""(base_offset, batch_length, last_offset_delta, max_timestamp) from a batch header."""
PREAD_MAX_BYTES = 64 * 1024
WILLNEED_MIN_BYTES = 64 * 1024
HOT_TAIL_BYTES = 16 * 1024 * 1024
"""Reads this close to the end are assumed to be in the page cache (just written)."""
_PAGE = mmap.PAGESIZE


class FileRecords:
    """A segment's log file. Not thread-safe except :meth:`flush`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._fd_lock = Lock()
        self._size: int | None = None
        self._map: mmap.mmap | None = None
        self._maps: list[weakref.ref[mmap.mmap]] = []

    def fd(self) -> int:
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise LogDirError(f"cannot open {self.path}: {exc}") from exc
        return self._fd

    @property
    def size_bytes(self) -> int:
        """Bytes in the file (stat'ed once, then tracked)."""
        if self._size is None:
            if self._fd >= 0:
                self._size = os.fstat(self._fd).st_size
            else:
                try:
                    self._size = self.path.stat().st_size
                except FileNotFoundError:
                    self._size = 0
        return self._size

    @property
    def last_modified_ms(self) -> int:
        try:
            return self.path.stat().st_mtime_ns // 1_000_000
        except FileNotFoundError:
            return 0

    def append(self, data: memoryview) -> int:
        """Write ``data`` at the end with one pwrite (looping only on a short write);
        return the position it starts at."""
        fd = self.fd()
        start = self.size_bytes
        written = 0
        try:
            while written < len(data):
                written += fs.pwrite(fd, data[written:], start + written)
        except OSError as exc:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise LogDirError(f"write to {self.path} failed: {exc}") from exc
        self._size = start + len(data)
        return start

    # -- reads -------------------------------------------------------------------------------

    def mapping(self, end: int) -> mmap.mmap:
        """A read-only map covering at least ``end`` bytes (``0 < end <= size_bytes``)."""
        current = self._map
        if current is not None and len(current) >= end:
            return current
        current = mmap.mmap(self.fd(), self.size_bytes, access=mmap.ACCESS_READ)
        self._map = current
        self._maps = [ref for ref in self._maps if ref() is not None]
        self._maps.append(weakref.ref(current))
        return current

    def is_mapped(self, view: memoryview) -> bool:
        return view.obj is self._map

    def view(self, start: int, end: int) -> memoryview:
        """Bytes ``[start, end)``: a pread copy for a small range past the map, else a view."""
        current = self._map
        if end - start <= PREAD_MAX_BYTES and (current is None or len(current) < end):
            return memoryview(os.pread(self.fd(), end - start, start))
        mapping = self.mapping(end)
        if end - start >= WILLNEED_MIN_BYTES and self.size_bytes - start > HOT_TAIL_BYTES:
            aligned = start - start % _PAGE
            mapping.madvise(mmap.MADV_WILLNEED, aligned, end - aligned)
        return memoryview(mapping)[start:end]

    def scan_header(self, pos: int) -> tuple[int, int, int, int]:
        """``SCAN_HEADER`` fields of the batch at ``pos``, from the map or one small pread."""
        current = self._map
        if current is not None and pos + SCAN_HEADER.size <= len(current):
            return SCAN_HEADER.unpack_from(current, pos)
        return SCAN_HEADER.unpack(os.pread(self.fd(), SCAN_HEADER.size, pos))

    def pread(self, size: int, pos: int) -> bytes:
        return os.pread(self.fd(), size, pos)

    def batches_from(self, position: int = 0) -> Generator[tuple[int, BatchHeader], None, None]:
        """``(position, header)`` of whole batches from ``position`` (loading, replay and
        ListOffsets; the generator holds a view, so finish or close it before truncating)."""
        size = self.size_bytes
        if position + LOG_OVERHEAD > size:
            return
        with memoryview(self.mapping(size))[:size] as view:
            yield from iter_batches(view, position)

    # -- shrinking -----------------------------------------------------------------------------

    def reload_size(self) -> None:
        """Forget the tracked size and maps (recovery re-reads the file from disk)."""
        self._drop_maps(0)
        self._size = None

    def _drop_maps(self, new_size: int) -> bool:
        """Close every map; True if one still exported to readers covers past ``new_size``."""
        self._map = None
        pinned = False
        for ref in self._maps:
            old = ref()
            if old is None:
                continue
            try:
                old.close()
            except BufferError:
                pinned = pinned or len(old) > new_size
        self._maps = []
        return pinned

    def truncate_to(self, new_size: int) -> None:
        """Shrink the file to ``new_size`` without pulling pages from under live views."""
        fd = self.fd()
        if self._drop_maps(new_size):
            self._replace_with_prefix(new_size)
        else:
            os.ftruncate(fd, new_size)
        self._size = new_size

    def _replace_with_prefix(self, new_size: int) -> None:
        tmp = self.path.with_name(self.path.name + ".trunc")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            copied = 0
            while copied < new_size:
                copied += os.copy_file_range(self._fd, out, new_size - copied, copied, copied)
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(tmp, self.path)
        with self._fd_lock:
            os.close(self._fd)
            self._fd = -1
        self.fd()

    # -- durability and teardown ---------------------------------------------------------------

    def flush(self) -> None:
        """fdatasync the file. Safe from a worker thread."""
        with self._fd_lock:
            fd = os.dup(self._fd) if self._fd >= 0 else -1
        if fd >= 0:
            try:
                fs.fdatasync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Release the descriptor and drop the map (views handed out stay valid)."""
        self._map = None
        with self._fd_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def delete(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
