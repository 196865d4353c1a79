"""The batches a follower fetched, checked before :meth:`brook.storage.log.Log.append_as_follower`.

A follower stores the leader's batches byte for byte: the leader assigned their offsets and
stamped their leader epochs, so nothing is patched and nothing is re-encoded. What the
follower checks is what holds for any v2 batch anywhere (Kafka's ``analyzeAndValidateRecords``
with the ``REPLICATION`` origin): magic, length, record count against the offset range and
the CRC32C (:func:`brook.records.batch.validate_batch`), and that offsets only move forward.
A topic's ``max.message.bytes`` is not applied (Kafka's follower ignores it too: the topic may
have been changed after the leader accepted a batch), nor are the producer and timestamp
rules, which the leader already applied.

A fetch answer may end with a partial batch (the leader fills ``max_bytes`` with whole file
regions); it is dropped, and the next fetch starts at the offset after the last whole batch.
The checks read only the buffer, so they may run in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from brook.records.batch import BatchHeader, iter_batches, validate_batch
from brook.records.errors import CorruptRecordError

__all__ = ["FollowerBatches", "SegmentGroup", "validate_follower_records"]


@dataclass(slots=True)
class SegmentGroup:
    """Consecutive batches written with one write: ``records[start:end]``."""

    start: int
    end: int
    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    headers: list[BatchHeader]


class FollowerBatches(list[tuple[int, BatchHeader]]):
    """``(position, header)`` of every whole, valid batch of a fetched ``records`` buffer."""

    __slots__ = ("records",)

    def __init__(self, records: memoryview) -> None:
        super().__init__()
        self.records = records

    @property
    def valid_bytes(self) -> int:
        if not self:
            return 0
        pos, header = self[-1]
        return pos + header.size

    def groups(self, segment_bytes: int) -> list[SegmentGroup]:
        """The batches cut into runs of at most ``segment_bytes`` (a batch larger than that
        is a run of its own), so no write overflows a segment: a follower's fetch may carry
        more bytes than a small ``segment.bytes``, where the leader wrote them one produce at
        a time."""
        out: list[SegmentGroup] = []
        current: SegmentGroup | None = None
        for pos, header in self:
            end = pos + header.size
            if current is None or end - current.start > segment_bytes:
                current = SegmentGroup(pos, end, header.base_offset, header.last_offset,
                                       -1, -1, [])
                out.append(current)
            current.end = end
            current.last_offset = header.last_offset
            if header.max_timestamp > current.max_timestamp:
                current.max_timestamp = header.max_timestamp
                current.offset_of_max_timestamp = header.last_offset
            current.headers.append(header)
        return out


def validate_follower_records(records: memoryview) -> FollowerBatches:
    """Every whole batch of ``records``, each checked; raises ``CorruptRecordError`` on the
    first bad one or when a batch's offsets do not follow the previous batch's (Kafka's
    ``OffsetsOutOfOrderException``, which the follower treats as corrupt data). A forward gap
    between batches is accepted: a compacted leader log has them."""
    batches = FollowerBatches(records)
    next_offset = -1
    for pos, header in iter_batches(records):
        validate_batch(records, pos, header)
        if header.base_offset < next_offset:
            raise CorruptRecordError(
                f"out of order offsets: batch at position {pos} starts at {header.base_offset}, "
                f"after a batch that ended at {next_offset - 1}"
            )
        next_offset = header.last_offset + 1
        batches.append((pos, header))
    return batches
