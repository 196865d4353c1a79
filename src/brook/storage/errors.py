"""Errors raised by ``brook.storage``.

Storage knows nothing of requests, so it raises these and the broker maps each one to the
Kafka error code named in its docstring. Keeping one exception per code (rather than one
exception carrying a code) lets callers catch exactly the cases they handle, e.g.
replication catches ``OffsetOutOfRangeError`` to reset a follower's fetch position.
"""

from __future__ import annotations

from brook.records.errors import CorruptRecordError, InvalidRecordError

__all__ = [
    "CorruptRecordError",
    "DuplicateSequenceError",
    "InvalidConfigError",
    "InvalidProducerEpochError",
    "InvalidRecordError",
    "InvalidTimestampError",
    "LogDirError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "RecordBatchTooLargeError",
    "RecordTooLargeError",
    "StorageError",
    "UnexpectedAppendOffsetError",
    "UnknownProducerIdError",
]


class StorageError(Exception):
    """Base of the storage errors. Uncaught, it becomes ``KAFKA_STORAGE_ERROR`` (56)."""


class OffsetOutOfRangeError(StorageError):
    """A read or truncation asked for an offset outside [log start, log end]. ``OFFSET_OUT_OF_RANGE`` (1)."""


class RecordTooLargeError(StorageError):
    """A batch is larger than ``max.message.bytes``. ``MESSAGE_TOO_LARGE`` (10)."""


class RecordBatchTooLargeError(StorageError):
    """A batch cannot fit in a segment (larger than ``segment.bytes``). ``RECORD_LIST_TOO_LARGE`` (18)."""


class InvalidTimestampError(StorageError):
    """A CreateTime timestamp is outside ``message.timestamp.before.max.ms`` /
    ``after.max.ms`` of the broker's clock. ``INVALID_TIMESTAMP`` (32)."""


class OutOfOrderSequenceError(StorageError):
    """An idempotent batch's sequence does not follow the producer's last one.
    ``OUT_OF_ORDER_SEQUENCE_NUMBER`` (45)."""


class InvalidProducerEpochError(StorageError):
    """A batch's producer epoch is older than the one this log has seen: the producer has been
    fenced. ``INVALID_PRODUCER_EPOCH`` (47)."""


class UnknownProducerIdError(StorageError):
    """The log has no state for the producer and cannot accept the batch.
    ``UNKNOWN_PRODUCER_ID`` (59). Kafka >= 2.5 no longer raises it on the produce path
    (see ``ProducerStateManager``); kept for the broker's mapping and for fetch-side use."""


class DuplicateSequenceError(StorageError):
    """The batch repeats one of the producer's last five batches; nothing was appended.

    Not a failure for the client: the broker answers ``NONE`` with ``first_offset`` (the
    base offset) of the original append, as Kafka does for ``DUPLICATE_SEQUENCE_NUMBER`` (46)
    caught in ``UnifiedLog.append``.
    """

    def __init__(self, first_offset: int, last_offset: int, timestamp: int = -1) -> None:
        super().__init__(
            f"duplicate batch, originally appended at offsets {first_offset}..{last_offset}"
        )
        self.first_offset = first_offset
        self.last_offset = last_offset
        self.timestamp = timestamp


class InvalidConfigError(StorageError):
    """A topic configuration key is unknown or its value is invalid. ``INVALID_CONFIG`` (40)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid value for configuration {key}: {reason}")
        self.key = key
        self.reason = reason


class UnexpectedAppendOffsetError(StorageError):
    """A follower's append does not start at or after its log end: the fetched batches
    overlap what the log holds (Kafka's ``UnexpectedAppendOffsetException``). The fetcher
    handles it (an empty log restarts at the batch's base offset); nothing was written."""

    def __init__(self, message: str, first_offset: int, last_offset: int) -> None:
        super().__init__(message)
        self.first_offset = first_offset
        self.last_offset = last_offset


class LogDirError(StorageError):
    """A log directory is unusable (I/O error, missing, full). ``KAFKA_STORAGE_ERROR`` (56);
    the broker marks the directory offline."""
