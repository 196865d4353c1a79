"""Kafka's ``OffsetIndex``: a sparse map from offsets to byte positions in one segment's log.

On disk (``<base offset>.index``) each entry is 8 bytes, big-endian: the offset relative to
the segment's base offset (uint32) and the physical position of a batch in the ``.log`` file
(uint32). As in Kafka an entry records a batch's *last* offset and that batch's *start*
position, one entry per ``index.interval.bytes`` of log. ``lookup(o)`` returns the greatest
entry whose offset is <= ``o``; the caller scans forward over at most about one interval of
batch headers from that position.

See :mod:`brook.storage.abstract_index` for the in-memory layout, lazy loading and the
threading rules.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

from brook.storage.abstract_index import AbstractIndex, IndexCorruptError

__all__ = ["OffsetIndex", "OffsetPosition"]

_RELATIVE_OFFSET_MAX = 0x7FFFFFFF


class OffsetPosition(NamedTuple):
    """An absolute offset and the byte position of the batch it was indexed with."""

    offset: int
    position: int


class OffsetIndex(AbstractIndex):
    """Keys are relative offsets, values are positions; both strictly increase."""

    entry_size = 8
    key_code = "I"
    value_code = "I"

    def can_append_offset(self, offset: int) -> bool:
        """True when ``offset`` is representable relative to the base offset (Kafka's rule)."""
        return 0 <= offset - self.base_offset <= _RELATIVE_OFFSET_MAX

    @property
    def last_offset(self) -> int:
        """The offset of the last entry, or the base offset when empty."""
        self._ensure_loaded()
        return self.base_offset + self._keys[-1] if self._keys else self.base_offset

    def entry(self, n: int) -> OffsetPosition:
        self._ensure_loaded()
        return OffsetPosition(self.base_offset + self._keys[n], self._values[n])

    def lookup(self, target_offset: int) -> OffsetPosition:
        """The greatest entry with offset <= ``target_offset``; ``(base_offset, 0)`` if none."""
        self._ensure_loaded()
        i = bisect_right(self._keys, target_offset - self.base_offset) - 1
        if i < 0:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._keys[i], self._values[i])

    def lookup_by_position(self, position: int) -> OffsetPosition:
        """The greatest entry with position <= ``position``; ``(base_offset, 0)`` if none.

        Used by reads to find where to start scanning for the last whole batch that fits in
        ``max_bytes`` without walking every header from the start position.
        """
        self._ensure_loaded()
        i = bisect_right(self._values, position) - 1
        if i < 0:
            return OffsetPosition(self.base_offset, 0)
        return OffsetPosition(self.base_offset + self._keys[i], self._values[i])

    def append(self, offset: int, position: int) -> None:
        """Add an entry; entries must grow in both offset and position."""
        self._ensure_loaded()
        relative = offset - self.base_offset
        if self._keys and (relative <= self._keys[-1] or position <= self._values[-1]):
            raise ValueError(
                f"index entry ({offset}, {position}) does not follow "
                f"({self.last_offset}, {self._values[-1]}) in {self.path}"
            )
        if len(self._keys) >= self.max_entries:
            raise ValueError(f"offset index {self.path} is full")
        self._append_entry(relative, position)

    def truncate_to(self, offset: int) -> None:
        """Remove every entry whose offset is >= ``offset``."""
        self._ensure_loaded()
        self._truncate_entries(bisect_left(self._keys, max(0, offset - self.base_offset)))

    def sanity_check(self) -> None:
        """Raise :class:`IndexCorruptError` when the file cannot be a valid offset index."""
        self._ensure_loaded()
        if self._file_length % self.entry_size:
            raise IndexCorruptError(
                f"offset index {self.path} has length {self._file_length}, "
                f"not a multiple of {self.entry_size}"
            )
        for i in range(1, len(self._keys)):
            if self._keys[i] <= self._keys[i - 1] or self._values[i] <= self._values[i - 1]:
                raise IndexCorruptError(f"offset index {self.path} is not increasing at entry {i}")
