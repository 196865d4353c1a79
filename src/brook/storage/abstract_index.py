"""What the offset index and the time index share: a file of fixed-size entries, kept in memory.

Kafka mmaps a preallocated index file of ``segment.index.bytes`` and writes entries into the
mapping. brook keeps the entries in ``array`` objects instead (a lookup is ``bisect`` over an
``array``, which runs in C) and mirrors them to the file in Kafka's on-disk layout
(big-endian, no header, ``entries * entry_size`` bytes). The file is never preallocated, so its
length always says how many entries it holds and nothing needs trimming on close.

Entries reach the file in :meth:`AbstractIndex.flush`, not on append: an index is only trusted
after a clean shutdown or for a segment below the recovery point, and both are flushed first;
anything newer is rebuilt from the log by recovery (Kafka's rule too, since its mmap'd
entries are not synced before a flush either). That keeps the append path free of index
syscalls and file descriptors, which matters with thousands of partitions per broker.

Lifecycle: created unloaded; the entries are read from the file on first use (``LazyIndex``
in Kafka), so opening a log after a clean shutdown reads no index file. ``close`` writes
pending entries; ``delete`` removes the file.

Concurrency: the event-loop thread appends, looks up, truncates and resets. ``flush`` may run
in a worker thread. Appends only grow the arrays (each append is atomic under the GIL and
``flush`` reads a prefix it has sized), while every operation that shrinks the entries or
touches the file holds ``_lock``, so a flush never writes entries that a truncation removed.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array
from pathlib import Path

from brook.env import fs

__all__ = ["AbstractIndex", "IndexCorruptError"]

_LITTLE_ENDIAN = sys.byteorder == "little"


class IndexCorruptError(Exception):
    """An index file fails its sanity check; the segment's indexes must be rebuilt."""


def _to_disk(values: array[int]) -> bytes:
    if _LITTLE_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_disk(typecode: str, data: bytes | bytearray) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if _LITTLE_ENDIAN:
        values.byteswap()
    return values


class AbstractIndex:
    """Two parallel arrays ``_keys``/``_values`` mirrored to ``path``; subclasses name them.

    ``_keys`` must be non-decreasing (lookups bisect them). ``max_index_size`` is
    ``segment.index.bytes``: when ``entries * entry_size`` reaches it the index is full and the
    segment must roll, as in Kafka.
    """

    entry_size = 8
    key_code = "I"
    value_code = "I"

    def __init__(self, path: Path, base_offset: int, max_index_size: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max(1, max_index_size // self.entry_size)
        self._keys: array[int] = array(self.key_code)
        self._values: array[int] = array(self.value_code)
        self._loaded = False
        self._written = 0
        """Entries already in the file (a prefix of the arrays)."""
        self._file_length = 0
        self._deleted = False
        self._lock = threading.Lock()

    # -- loading -------------------------------------------------------------------------

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            usable = len(data) - len(data) % self.entry_size
            count = min(usable // self.entry_size, self.max_entries)
            keys, values = self._split(data[: count * self.entry_size], count)
            self._keys, self._values = keys, values
            self._written = count
            self._file_length = len(data)
            self._loaded = True

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Read the entries now (a worker thread does this for a segment a read is about to
        open, so that the event loop never reads a whole index file)."""
        self._ensure_loaded()

    # -- state ---------------------------------------------------------------------------

    @property
    def entries(self) -> int:
        self._ensure_loaded()
        return len(self._values)

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries

    @property
    def size_bytes(self) -> int:
        return self.entries * self.entry_size

    def _append_entry(self, key: int, value: int) -> None:
        # Values first: a concurrent flush sizes its prefix by len(_keys).
        self._values.append(value)
        self._keys.append(key)

    # -- mutation (event-loop thread) ----------------------------------------------------

    def _truncate_entries(self, count: int) -> None:
        """Keep the first ``count`` entries, in memory and in the file."""
        self._ensure_loaded()
        with self._lock:
            del self._keys[count:]
            del self._values[count:]
            if self._written > count or self._file_length > count * self.entry_size:
                self._written = min(self._written, count)
                if self.path.exists():
                    os.truncate(self.path, self._written * self.entry_size)
                self._file_length = self._written * self.entry_size

    def reset(self) -> None:
        """Remove every entry, in memory and in the file (recovery rebuilds from the log)."""
        with self._lock:
            self._keys = array(self.key_code)
            self._values = array(self.value_code)
            self._loaded = True
            self._written = 0
            if self.path.exists():
                os.truncate(self.path, 0)
            self._file_length = 0

    # -- persistence (any thread) --------------------------------------------------------

    def flush(self) -> None:
        """Write entries not yet in the file and fsync it. Safe from a worker thread.

        Creates the file when missing (even empty), so that every segment closed cleanly
        has both index files, as Kafka's do.
        """
        if not self._loaded:
            if self._deleted or self.path.exists():
                return
            self._ensure_loaded()
        with self._lock:
            if self._deleted:
                return
            count = len(self._keys)
            if count == self._written and self.path.exists():
                return
            entry_bytes = self._serialize(self._written, count)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.pwrite(fd, entry_bytes, self._written * self.entry_size)
                fs.fsync(fd)
            finally:
                os.close(fd)
            self._written = count
            self._file_length = count * self.entry_size

    def _split(self, data: bytes, count: int) -> tuple[array[int], array[int]]:
        """De-interleave ``count`` on-disk entries into (keys, values) with strided copies."""
        size, key_size = self.entry_size, array(self.key_code).itemsize
        value_size = size - key_size
        key_bytes = bytearray(key_size * count)
        value_bytes = bytearray(value_size * count)
        for j in range(key_size):
            key_bytes[j::key_size] = data[j::size]
        for j in range(value_size):
            value_bytes[j::value_size] = data[key_size + j :: size]
        return _from_disk(self.key_code, key_bytes), _from_disk(self.value_code, value_bytes)

    def _serialize(self, start: int, end: int) -> bytes:
        """Interleave entries ``[start, end)`` into Kafka's big-endian on-disk layout."""
        size, key_size = self.entry_size, array(self.key_code).itemsize
        value_size = size - key_size
        key_bytes = _to_disk(self._keys[start:end])
        value_bytes = _to_disk(self._values[start:end])
        out = bytearray(size * (end - start))
        for j in range(key_size):
            out[j::size] = key_bytes[j::key_size]
        for j in range(value_size):
            out[key_size + j :: size] = value_bytes[j::value_size]
        return bytes(out)

    def close(self) -> None:
        """Write pending entries; later flushes (a racing worker thread) do nothing."""
        self.flush()
        with self._lock:
            self._deleted = True

    def delete(self) -> None:
        with self._lock:
            self._deleted = True
            self.path.unlink(missing_ok=True)
            self._written = 0
            self._file_length = 0

    def rename(self, new_path: Path) -> None:
        with self._lock:
            if self.path.exists():
                os.replace(self.path, new_path)
            self.path = new_path
