"""Produce: batches go from the request frame to the log without a per-record Python loop.

The request frame is a private, writable ``bytearray``; ``records`` is a memoryview into it, so
the log validates each batch by its header and CRC, patches offsets in place and writes it as
sent (DESIGN.md §5). With every replica in the ISR being this broker, acks=1 and acks=all are
both satisfied when the append returns; acks=0 gets no response at all. The exception is a
partition whose append reached ``flush.messages``: its fsync runs in a worker thread and the
response is sent only once it covers the records (the handler then answers with an
awaitable, and the connection keeps processing later requests meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from brook.broker.context import RequestContext
from brook.broker.errors import error_code_for
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.replication.partition import NotEnoughReplicasError
from brook.storage.errors import StorageError

API_KEY = ApiKey.PRODUCE
MIN_VERSION = 3  # RecordBatch v2 (magic 2) only
MAX_VERSION = 11
REQUEST = ProduceRequest

log = logging.getLogger(__name__)

TopicResponse = ProduceResponse.TopicProduceResponse
PartitionResponse = ProduceResponse.PartitionProduceResponse
# Shared by every response: encoders only read it, and building one per partition costs more
# than the rest of the response's fields together.
_NO_LEADER_CHANGE = ProduceResponse.LeaderIdAndEpoch()
_EXPECTED = (StorageError, CorruptRecordError, InvalidRecordError, NotEnoughReplicasError)


def _error(index: int, code: ErrorCode, message: str | None = None) -> PartitionResponse:
    return PartitionResponse(index, code, -1, -1, -1, None, message, _NO_LEADER_CHANGE)


def handle(
    ctx: RequestContext, request: ProduceRequest
) -> ProduceResponse | Coroutine[Any, Any, ProduceResponse] | None:
    node = ctx.broker
    acks = request.acks
    replica_manager = node.replica_manager
    now_ms = node.clock.now_ms()
    responses = []
    flushes: list[tuple[list[PartitionResponse], int, asyncio.Future[None]]] = []
    for topic_data in request.topic_data:
        name = topic_data.name
        parts = []
        for pdata in topic_data.partition_data:
            index = pdata.index
            if acks not in (-1, 0, 1):
                parts.append(_error(index, ErrorCode.INVALID_REQUIRED_ACKS))
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
                info, durable = replica_manager.append_to_leader_durable(
                    part, records, acks, now_ms
                )
            except _EXPECTED as exc:
                code = error_code_for(exc)
                if code == ErrorCode.KAFKA_STORAGE_ERROR:
                    log.error("append to %s failed", part.tp, exc_info=exc)
                parts.append(_error(index, code, str(exc) or None))
                continue
            if durable is not None:
                if acks == 0:
                    durable.add_done_callback(_consume_failure)
                else:
                    flushes.append((parts, len(parts), durable))
            parts.append(
                PartitionResponse(
                    index, ErrorCode.NONE, info.first_offset, info.log_append_time,
                    info.log_start_offset, None, None, _NO_LEADER_CHANGE,
                )
            )
        responses.append(TopicResponse(name=name, partition_responses=parts))
    if acks == 0:
        return None
    response = ProduceResponse(responses=responses, throttle_time_ms=0)
    if flushes:
        return _after_flushes(response, flushes)
    return response


async def _after_flushes(
    response: ProduceResponse, flushes: list[tuple[list[PartitionResponse], int, asyncio.Future[None]]]
) -> ProduceResponse:
    """Answer once every partition's fsync is done; a failed one answers KAFKA_STORAGE_ERROR."""
    for parts, i, durable in flushes:
        try:
            await durable
        except Exception as exc:
            log.error("flush of produced records failed", exc_info=exc)
            parts[i] = _error(parts[i].index, ErrorCode.KAFKA_STORAGE_ERROR, str(exc) or None)
    return response


def _consume_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and (exc := fut.exception()) is not None:
        log.error("flush of produced records failed", exc_info=exc)
