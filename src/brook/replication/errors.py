"""The exceptions the replica manager's append and read raise, for request handlers to map
to Kafka error codes without importing the storage layer."""

from __future__ import annotations

from brook.replication.delayed_produce import (
    NotEnoughReplicasAfterAppendError,
    NotLeaderOrFollowerError,
)
from brook.replication.partition import NotEnoughReplicasError
from brook.storage.errors import OffsetOutOfRangeError, StorageError
from brook.storage.log_validator import (
    InvalidTxnStateError,
    RecordTimestampError,
    UnsupportedCompressionTypeError,
)

__all__ = [
    "InvalidTxnStateError",
    "NotEnoughReplicasAfterAppendError",
    "NotEnoughReplicasError",
    "NotLeaderOrFollowerError",
    "OffsetOutOfRangeError",
    "RecordTimestampError",
    "StorageError",
    "UnsupportedCompressionTypeError",
]
