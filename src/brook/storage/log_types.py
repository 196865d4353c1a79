"""Value types the log returns: Kafka's ``LogAppendInfo``, ``LogOffsetMetadata`` and
``FetchDataInfo``.

They are immutable because they cross from storage into replication and the broker, which
must not be able to change what the log reported. They are ``NamedTuple``s rather than frozen
dataclasses because they are built on every produce and fetch: a frozen dataclass's
``__init__`` goes through ``object.__setattr__`` per field and costs about four times as much.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["FetchDataInfo", "LogAppendInfo", "LogOffsetMetadata"]


class LogAppendInfo(NamedTuple):
    """What one ``append_as_leader`` call did.

    ``first_offset``/``last_offset`` are the offsets given to the request's batches, or, when
    ``duplicate`` is set, those the original append gave them (nothing was written).
    ``log_append_time`` is the broker time stamped on the batches, -1 under CreateTime.
    ``offset_of_max_timestamp`` is the last offset of the batch holding ``max_timestamp``
    (Kafka's shallow offset of max timestamp).
    """

    first_offset: int
    last_offset: int
    log_append_time: int
    log_start_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    num_messages: int
    valid_bytes: int
    duplicate: bool = False


class LogOffsetMetadata(NamedTuple):
    """An offset plus where it lives: the segment's base offset and the byte position there."""

    message_offset: int
    segment_base_offset: int = -1
    relative_position_in_segment: int = -1


class FetchDataInfo(NamedTuple):
    """The result of a read: whole batches, one contiguous chunk per segment read.

    A chunk is a view into the segment's map (no copy), or for a read of at most 64 KiB past
    the current map a view over a ``pread`` copy (cheaper than remapping). ``chunks`` may span
    segments; an empty list means no data (a read at the end, or nothing fitted below
    ``max_offset``/``max_bytes``). Views keep their map alive: callers pass them to the
    transport and drop them once sent.
    """

    fetch_offset_metadata: LogOffsetMetadata
    chunks: list[memoryview]
    size: int

    @property
    def first_offset_position(self) -> int:
        return self.fetch_offset_metadata.relative_position_in_segment
