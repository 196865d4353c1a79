"""Kafka's ``LogValidator`` for the leader's append path, without a loop over records.

Two steps, as in ``UnifiedLog.append``:

1. :func:`analyze_and_validate_records` walks the batch headers of a produce request and
   checks what can be checked per batch: magic 2, the CRC (one C call over a memoryview),
   producer-batch rules (record count, no control batches from clients) and
   ``max.message.bytes``. A trailing partial batch is dropped, as Kafka trims invalid bytes.
2. :func:`assign_offsets` checks CreateTime timestamps against
   ``message.timestamp.before.max.ms``/``after.max.ms``, then patches each batch's base offset
   and partition leader epoch in the request buffer and stamps LogAppendTime when configured.

Kafka checks the timestamp of every record; brook checks each batch's base timestamp (the
first record's) and max timestamp, which bound every record unless a producer wrote
timestamps that go backwards inside a batch. That keeps produce free of per-record work
(DESIGN.md §5).

Nothing here writes: an exception leaves the log untouched (the buffer may be patched, but
it is the request's and is discarded).
"""

from __future__ import annotations

from dataclasses import dataclass

from brook.records.batch import (
    BatchHeader,
    iter_batches,
    patch_base_offset_and_leader_epoch,
    set_log_append_time,
    validate_batch,
    validate_produce_batch,
)
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.storage.errors import InvalidTimestampError, RecordTooLargeError

__all__ = ["AssignedOffsets", "analyze_and_validate_records", "assign_offsets"]


def analyze_and_validate_records(
    records: memoryview, *, max_message_bytes: int, origin_client: bool, compacted: bool = False
) -> list[tuple[int, BatchHeader]]:
    """Every complete batch's ``(position, header)``, each validated; raises on the first bad one.

    For a compacted topic every record must have a key (compaction keeps the latest value per
    key, so a keyless record could never be cleaned): as Kafka does, such batches are decoded
    to check, the one place the produce path looks at individual records, and only for
    ``cleanup.policy=compact`` topics.
    """
    batches: list[tuple[int, BatchHeader]] = []
    validate = validate_produce_batch if origin_client else validate_batch
    for pos, header in iter_batches(records):
        if header.size > max_message_bytes:
            raise RecordTooLargeError(
                f"batch of {header.size} bytes exceeds max.message.bytes {max_message_bytes}"
            )
        validate(records, pos, header)
        if compacted and origin_client and not header.is_control:
            _check_keys(records, pos)
        batches.append((pos, header))
    if not batches and len(records):
        raise CorruptRecordError("the request holds no complete record batch")
    return batches


def _check_keys(records: memoryview, pos: int) -> None:
    from brook.records.record import decode_records

    for record in decode_records(records, pos, verify=False):
        if record.key is None:
            raise InvalidRecordError(
                "Compacted topic cannot accept message without key in topic partition"
            )


@dataclass(slots=True)
class AssignedOffsets:
    """The offsets and timestamps a request's batches were given."""

    first_offset: int
    last_offset: int
    max_timestamp: int
    offset_of_max_timestamp: int
    num_messages: int
    valid_bytes: int


def assign_offsets(
    records: memoryview,
    batches: list[tuple[int, BatchHeader]],
    *,
    next_offset: int,
    leader_epoch: int,
    now_ms: int,
    log_append_time: bool,
    timestamp_before_max_ms: int,
    timestamp_after_max_ms: int,
) -> AssignedOffsets:
    """Check timestamps, then patch offsets, leader epoch and (LogAppendTime) timestamps."""
    if not log_append_time:
        earliest = now_ms - timestamp_before_max_ms
        latest = now_ms + timestamp_after_max_ms
        for _, header in batches:
            for ts in (header.base_timestamp, header.max_timestamp):
                if ts < earliest or ts > latest:
                    raise InvalidTimestampError(
                        f"timestamp {ts} is out of range [{earliest}, {latest}] "
                        "(message.timestamp.before.max.ms / after.max.ms)"
                    )
    offset = next_offset
    max_timestamp = -1
    offset_of_max_timestamp = -1
    num_messages = 0
    for pos, header in batches:
        patch_base_offset_and_leader_epoch(records, pos, header, offset, leader_epoch)
        batch_max = header.max_timestamp
        if log_append_time:
            set_log_append_time(records, pos, now_ms)
            batch_max = now_ms
        last = offset + header.last_offset_delta
        if batch_max > max_timestamp:
            max_timestamp = batch_max
            offset_of_max_timestamp = last
        num_messages += header.records_count
        offset = last + 1
    last_pos, last_header = batches[-1]
    return AssignedOffsets(
        first_offset=next_offset,
        last_offset=offset - 1,
        max_timestamp=max_timestamp,
        offset_of_max_timestamp=offset_of_max_timestamp,
        num_messages=num_messages,
        valid_bytes=last_pos + last_header.size,
    )
