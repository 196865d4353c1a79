"""Kafka's ``LogSegments``: one partition's segments ordered by base offset.

A sorted list of base offsets plus a dict, so floor lookups are one ``bisect`` and the usual
changes (add at the end on a roll, remove from the front on retention, from the back on
truncation) are cheap. The log guards structural changes with its lock because a flush in a
worker thread takes snapshots of the segment list.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from brook.storage.segment import LogSegment

__all__ = ["LogSegments"]


class LogSegments:
    """Segments by base offset. Not thread-safe on its own (see :class:`Log`)."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._by_base: dict[int, LogSegment] = {}

    def __len__(self) -> int:
        return len(self._bases)

    def add(self, segment: LogSegment) -> None:
        if segment.base_offset not in self._by_base:
            insort(self._bases, segment.base_offset)
        self._by_base[segment.base_offset] = segment

    def remove(self, base_offset: int) -> LogSegment:
        self._bases.remove(base_offset)
        return self._by_base.pop(base_offset)

    def get(self, base_offset: int) -> LogSegment | None:
        return self._by_base.get(base_offset)

    @property
    def first(self) -> LogSegment:
        return self._by_base[self._bases[0]]

    @property
    def last(self) -> LogSegment:
        return self._by_base[self._bases[-1]]

    def values(self) -> list[LogSegment]:
        return [self._by_base[b] for b in self._bases]

    def floor(self, offset: int) -> LogSegment | None:
        """The segment whose base offset is the greatest one <= ``offset``."""
        i = bisect_right(self._bases, offset) - 1
        return self._by_base[self._bases[i]] if i >= 0 else None

    def higher(self, base_offset: int) -> LogSegment | None:
        """The segment after the one based at ``base_offset``."""
        i = bisect_right(self._bases, base_offset)
        return self._by_base[self._bases[i]] if i < len(self._bases) else None

    def values_from(self, offset: int, to_offset: int | None = None) -> list[LogSegment]:
        """Segments that may hold offsets in ``[offset, to_offset)``: from the floor of
        ``offset`` up to the last one whose base is below ``to_offset``."""
        start = max(0, bisect_right(self._bases, offset) - 1)
        end = len(self._bases) if to_offset is None else bisect_left(self._bases, to_offset)
        return [self._by_base[b] for b in self._bases[start:end]]

    def next_base_after(self, segment: LogSegment) -> int | None:
        following = self.higher(segment.base_offset)
        return None if following is None else following.base_offset
