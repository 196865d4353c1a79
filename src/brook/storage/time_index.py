"""Kafka's ``TimeIndex``: a sparse map from timestamps to offsets in one segment.

On disk (``<base offset>.timeindex``) each entry is 12 bytes, big-endian: a timestamp (int64)
and an offset relative to the segment's base offset (uint32). An entry says "the largest
timestamp seen up to and including this offset is T", and entries are added only when T
grows, so both columns are non-decreasing. ``lookup(t)`` returns the greatest entry whose
timestamp is <= ``t``; every batch before that entry's offset has a smaller maximum
timestamp, so a search for the first batch reaching ``t`` can start at that entry's batch.

The last entry doubles as the segment's largest timestamp after a restart: the segment
appends its running maximum when it becomes inactive and when it is closed (Kafka's rule).

See :mod:`brook.storage.abstract_index` for the in-memory layout, lazy loading and the
threading rules.
"""

from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from brook.storage.abstract_index import AbstractIndex, IndexCorruptError

__all__ = ["TimeIndex", "TimestampOffset"]

NO_TIMESTAMP = -1


class TimestampOffset(NamedTuple):
    """A timestamp and the absolute offset of the entry it was indexed with."""

    timestamp: int
    offset: int


class TimeIndex(AbstractIndex):
    """Keys are timestamps (int64), values are relative offsets (uint32)."""

    entry_size = 12
    key_code = "q"
    value_code = "I"

    @property
    def last_entry(self) -> TimestampOffset:
        """The last entry, or ``(-1, base_offset)`` when empty.

        Unloaded, only the file's last entry is read: retention asks every old segment for
        its largest timestamp, and must not read whole index files on the event loop."""
        if not self._loaded:
            tail = self._read_last_entry()
            if tail is not None:
                return tail
        self._ensure_loaded()
        if not self._keys:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return TimestampOffset(self._keys[-1], self.base_offset + self._values[-1])

    def _read_last_entry(self) -> TimestampOffset | None:
        """The last whole entry in the file, or None (missing, empty or not entry-aligned:
        the full load decides what that means)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            length = os.fstat(fd).st_size
            count = min(length // self.entry_size, self.max_entries)
            if count == 0 or length % self.entry_size:
                return None
            data = os.pread(fd, self.entry_size, (count - 1) * self.entry_size)
        finally:
            os.close(fd)
        if len(data) != self.entry_size:
            return None
        timestamp = int.from_bytes(data[:8], "big", signed=True)
        return TimestampOffset(timestamp, self.base_offset + int.from_bytes(data[8:], "big"))

    def entry(self, n: int) -> TimestampOffset:
        self._ensure_loaded()
        return TimestampOffset(self._keys[n], self.base_offset + self._values[n])

    def lookup(self, target_timestamp: int) -> TimestampOffset:
        """The greatest entry with timestamp <= target; ``(-1, base_offset)`` if none."""
        self._ensure_loaded()
        i = bisect_right(self._keys, target_timestamp) - 1
        if i < 0:
            return TimestampOffset(NO_TIMESTAMP, self.base_offset)
        return TimestampOffset(self._keys[i], self.base_offset + self._values[i])

    def maybe_append(self, timestamp: int, offset: int, *, skip_full_check: bool = False) -> None:
        """Append ``(timestamp, offset)`` if ``timestamp`` is larger than the last entry's.

        ``skip_full_check`` lets a segment record its final maximum when it becomes inactive
        even if the index filled up exactly at the roll (Kafka does the same).
        """
        self._ensure_loaded()
        if self._keys and timestamp <= self._keys[-1]:
            return
        relative = offset - self.base_offset
        if self._values and relative < self._values[-1]:
            raise ValueError(
                f"time index entry ({timestamp}, {offset}) goes back from offset "
                f"{self.base_offset + self._values[-1]} in {self.path}"
            )
        if len(self._keys) >= self.max_entries and not skip_full_check:
            raise ValueError(f"time index {self.path} is full")
        self._append_entry(timestamp, relative)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset``."""
        self._ensure_loaded()
        self._truncate_entries(bisect_left(self._values, max(0, offset - self.base_offset)))

    def sanity_check(self) -> None:
        """Raise :class:`IndexCorruptError` when the file cannot be a valid time index."""
        self._ensure_loaded()
        if self._file_length % self.entry_size:
            raise IndexCorruptError(
                f"time index {self.path} has length {self._file_length}, "
                f"not a multiple of {self.entry_size}"
            )
        for i in range(1, len(self._keys)):
            if self._keys[i] <= self._keys[i - 1] or self._values[i] < self._values[i - 1]:
                raise IndexCorruptError(f"time index {self.path} is not increasing at entry {i}")
