"""Storage and replication exceptions -> the Kafka error codes clients understand."""

from __future__ import annotations

from brook.protocol.errors import ErrorCode
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.replication.delayed_produce import (
    NotEnoughReplicasAfterAppendError,
    NotLeaderOrFollowerError,
)
from brook.replication.partition import NotEnoughReplicasError
from brook.storage import errors as se
from brook.storage.log_validator import InvalidTxnStateError, UnsupportedCompressionTypeError

_MAP: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (CorruptRecordError, ErrorCode.CORRUPT_MESSAGE),
    (UnsupportedCompressionTypeError, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE),
    (InvalidRecordError, ErrorCode.INVALID_RECORD),
    (se.RecordTooLargeError, ErrorCode.MESSAGE_TOO_LARGE),
    (se.RecordBatchTooLargeError, ErrorCode.RECORD_LIST_TOO_LARGE),
    (se.InvalidTimestampError, ErrorCode.INVALID_TIMESTAMP),
    (se.OutOfOrderSequenceError, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER),
    (se.InvalidProducerEpochError, ErrorCode.INVALID_PRODUCER_EPOCH),
    (se.UnknownProducerIdError, ErrorCode.UNKNOWN_PRODUCER_ID),
    (se.OffsetOutOfRangeError, ErrorCode.OFFSET_OUT_OF_RANGE),
    (se.InvalidConfigError, ErrorCode.INVALID_CONFIG),
    (NotEnoughReplicasError, ErrorCode.NOT_ENOUGH_REPLICAS),
    (NotEnoughReplicasAfterAppendError, ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND),
    (NotLeaderOrFollowerError, ErrorCode.NOT_LEADER_OR_FOLLOWER),
    (InvalidTxnStateError, ErrorCode.INVALID_TXN_STATE),
    (se.StorageError, ErrorCode.KAFKA_STORAGE_ERROR),
    (OSError, ErrorCode.KAFKA_STORAGE_ERROR),
)


def error_code_for(exc: BaseException) -> ErrorCode:
    for cls, code in _MAP:
        if isinstance(exc, cls):
            return code
    return ErrorCode.UNKNOWN_SERVER_ERROR
