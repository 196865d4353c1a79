"""Produce: batches go from the request frame to the log without a per-record Python loop.

The request frame is a private, writable ``bytearray``; ``records`` is a memoryview into it, so
the log validates each batch by its header and CRC, patches offsets in place and writes it as
sent (DESIGN.md §5). With every replica in the ISR being this broker, acks=1 and acks=all are
both satisfied when the append returns; acks=0 gets no response at all.
"""

from __future__ import annotations

import logging

from brook.broker.context import RequestContext
from brook.broker.errors import error_code_for
from brook.metadata.controller.topic_names import INTERNAL_TOPICS
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.validate import RecordError
from brook.replication.partition import NotEnoughReplicasError
from brook.storage.errors import StorageError
from brook.storage.log_validator import (
    InvalidTxnStateError,
    RecordTimestampError,
    UnsupportedCompressionTypeError,
)

API_KEY = ApiKey.PRODUCE
MIN_VERSION = 3  # RecordBatch v2 (magic 2) only
MAX_VERSION = 11
REQUEST = ProduceRequest

log = logging.getLogger(__name__)

TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = ProduceResponse.PartitionProduceResponse
BatchError = ProduceResponse.BatchIndexAndErrorMessage
# Shared by every response: encoders only read it, and building one per partition costs more
# than the rest of the response's fields together.
_NO_LEADER_CHANGE = ProduceResponse.LeaderIdAndEpoch()
_EXPECTED = (StorageError, CorruptRecordError, InvalidRecordError, NotEnoughReplicasError)


def _error(index: int, code: ErrorCode, message: str | None = None) -> PartitionResponse:
    return PartitionResponse(index, code, -1, -1, -1, None, message, _NO_LEADER_CHANGE)


def _validation_error(index: int, exc: Exception) -> PartitionResponse:
    """A refused append as Kafka answers it: the code, ``error_message`` and, for errors tied
    to records, ``record_errors`` (Produce v8+; older versions drop both when encoding)."""
    if isinstance(exc, UnsupportedCompressionTypeError):
        code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    elif isinstance(exc, InvalidTxnStateError):
        code = ErrorCode.INVALID_TXN_STATE
    else:
        code = error_code_for(exc)
    record_errors = None
    if isinstance(exc, RecordTimestampError):
        record_errors = [BatchError(i, message) for i, message in exc.record_errors]
    elif isinstance(exc, RecordError):
        record_errors = [BatchError(exc.index, exc.reason)]
    return PartitionResponse(
        index, code, -1, -1, -1, record_errors, str(exc) or None, _NO_LEADER_CHANGE
    )


def handle(ctx: RequestContext, request: ProduceRequest) -> ProduceResponse | None:
    node = ctx.broker
    acks = request.acks
    replica_manager = node.replica_manager
    now_ms = node.clock.now_ms()
    responses = []
    for topic_data in request.topic_data:
        name = topic_data.name
        parts = []
        for pdata in topic_data.partition_data:
            index = pdata.index
            if acks not in (-1, 0, 1):
                parts.append(_error(index, ErrorCode.INVALID_REQUIRED_ACKS))
                continue
            if name in INTERNAL_TOPICS:  # written only by their coordinators, never by clients
                parts.append(_error(index, ErrorCode.INVALID_TOPIC_EXCEPTION,
                                    f"Cannot append to internal topic {name}"))  # fmt: skip
                continue
            part = replica_manager.get_partition(name, index)
            if part is None:
                parts.append(_error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                continue
            if not part.is_leader:
                parts.append(_error(index, ErrorCode.NOT_LEADER_OR_FOLLOWER))
                continue
            records = pdata.records
            if type(records) is not memoryview:  # decoded requests always hold a view
                if not isinstance(records, (bytes, bytearray)):
                    parts.append(_error(index, ErrorCode.CORRUPT_MESSAGE, "no record set"))
                    continue
                records = memoryview(bytearray(records))
            if len(records) == 0:
                parts.append(_error(index, ErrorCode.CORRUPT_MESSAGE, "empty record set"))
                continue
            try:
                info = replica_manager.append_to_leader(part, records, acks, now_ms)
            except _EXPECTED as exc:
                response = _validation_error(index, exc)
                if response.error_code == ErrorCode.KAFKA_STORAGE_ERROR:
                    log.error("append to %s failed", part.tp, exc_info=exc)
                parts.append(response)
                continue
            parts.append(
                PartitionResponse(
                    index, ErrorCode.NONE, info.first_offset, info.log_append_time,
                    info.log_start_offset, None, None, _NO_LEADER_CHANGE,
                )
            )
        responses.append(TopicResponse(name=name, partition_responses=parts))
    if acks == 0:
        return None
    return ProduceResponse(responses=responses, throttle_time_ms=0)
