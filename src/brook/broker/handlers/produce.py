"""Produce: batches go from the request frame to the log, validated, patched in place.

The request frame is a private, writable ``bytearray``; ``records`` is a memoryview into it, so
the log validates each batch (header, CRC, record framing: ``storage.log_validator``), patches
offsets in place and writes it as sent (docs/architecture.md, Rules). A request holding a
large compressed batch is decompressed and validated in a worker thread first. acks=1 is
answered after the leader's append; acks=all once the high watermark passes the records
(every ISR member has them), at once when the leader is the only in-sync replica. A
partition whose append reached ``flush.messages`` also waits for its fsync, in a worker
thread. Waiting, the handler answers with an awaitable, and the connection keeps
processing later requests meanwhile.
acks=0 gets no response at all, and when it fails the connection is closed (Kafka's way of
telling such a producer to refresh its metadata). Produce v3+ carries exactly one record batch
per partition, as Kafka requires. Internal topics are written by their coordinators only.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Coroutine
from typing import Any

from brook.broker.context import RequestContext
from brook.broker.errors import error_code_for
from brook.metadata.controller.topic_names import INTERNAL_TOPICS
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.batch import HEADER_SIZE, LENGTH_OFFSET, LOG_OVERHEAD, iter_batches
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.validate import RecordError
from brook.replication.errors import (
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderOrFollowerError,
    RecordTimestampError,
    StorageError,
)
from brook.replication.replica_manager import ValidatedBatches

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
    code = error_code_for(exc)
    record_errors = None
    if isinstance(exc, RecordTimestampError):
        record_errors = [BatchError(i, message) for i, message in exc.record_errors]
    elif isinstance(exc, RecordError):
        record_errors = [BatchError(exc.index, exc.reason)]
    return PartitionResponse(
        index, code, -1, -1, -1, record_errors, str(exc) or None, _NO_LEADER_CHANGE
    )


_OFF_LOOP_RECORDS = 1_000
"""A request holding a compressed batch of this many records (or of ``_OFF_LOOP_BYTES``) is
decompressed and validated in a worker thread: that walk costs about a millisecond per
thousand records, which would freeze every other client if done on the event loop."""
_OFF_LOOP_BYTES = 64 * 1024

Validated = dict[tuple[str, int], ValidatedBatches | Exception]
_tails: dict[str, asyncio.Future[None]] = {}
"""Per connection, the last produce request still being validated off the loop: later ones
from that connection wait behind it so their batches are appended in the order sent (an
idempotent producer pipelines requests to the same partition)."""


def handle(
    ctx: RequestContext, request: ProduceRequest
) -> (
    ProduceResponse | asyncio.Future[ProduceResponse | None]
    | Coroutine[Any, Any, ProduceResponse] | None
):
    key = ctx.connection_id
    if key in _tails or _has_large_compressed_batch(request):
        # Take the connection's place in line now, before any later request is handled.
        before = _tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        _tails[key] = mine
        # Returned even for acks=0 (it resolves to no response): the connection keeps the
        # request's place, its pool bytes and its in-flight count until it has been appended,
        # so a client pipelining acks=0 requests faster than they validate is slowed down
        # instead of queueing frames in memory without bound.
        return asyncio.ensure_future(_validate_off_loop(ctx, request, before, mine))
    return _append(ctx, request, None)


def _has_large_compressed_batch(request: ProduceRequest) -> bool:
    for topic_data in request.topic_data:
        for pdata in topic_data.partition_data:
            records = pdata.records
            if type(records) is not memoryview:
                continue
            try:
                for _, header in iter_batches(records):
                    if header.attributes & 0x07 and (
                        header.records_count >= _OFF_LOOP_RECORDS or header.size >= _OFF_LOOP_BYTES
                    ):
                        return True
            except CorruptRecordError:
                continue  # answered by the append
    return False


_LENGTH = struct.Struct(">i")


def _more_than_one_batch(records: memoryview) -> bool:
    """Kafka's ``ProduceRequest.validateRecords``: a second complete batch after the first is
    refused (a partial tail is not a batch; the append trims it). Only lengths are read."""
    end = len(records)
    if end < LOG_OVERHEAD:
        return False
    second = LOG_OVERHEAD + _LENGTH.unpack_from(records, LENGTH_OFFSET)[0]
    if second <= LOG_OVERHEAD or second + LOG_OVERHEAD > end:
        return False
    length: int = _LENGTH.unpack_from(records, second + LENGTH_OFFSET)[0]
    # A length too small for a batch is garbage, answered CORRUPT_MESSAGE by the append.
    return length >= HEADER_SIZE - LOG_OVERHEAD and second + LOG_OVERHEAD + length <= end


def _uses_zstd(records: memoryview) -> bool:
    """Kafka refuses zstd batches in Produce before v7 (clients that old cannot read them)."""
    try:
        return any(header.attributes & 0x07 == 4 for _, header in iter_batches(records))
    except CorruptRecordError:
        return False  # answered by the append


async def _validate_off_loop(
    ctx: RequestContext,
    request: ProduceRequest,
    before: asyncio.Future[None] | None,
    mine: asyncio.Future[None],
) -> ProduceResponse | None:
    """Validate in a worker thread once the connection's previous off-loop request has been
    appended, then append on the loop (appends never leave the loop)."""
    key = ctx.connection_id
    try:
        if before is not None:
            await asyncio.shield(before)
        loop = asyncio.get_running_loop()
        validated = await loop.run_in_executor(None, _prevalidate, ctx, request)
        result = _append(ctx, request, validated)
    finally:
        mine.set_result(None)
        if _tails.get(key) is mine:
            del _tails[key]
    # The append is done, so the next request in line may go; an fsync it asked for
    # (flush.messages) is awaited after that.
    if asyncio.iscoroutine(result):
        return await result
    return result


def _prevalidate(ctx: RequestContext, request: ProduceRequest) -> Validated:
    """In a worker thread: each partition's batches validated (it reads only the request's
    own buffer and the log's config), or the error the append will answer with."""
    out: Validated = {}
    replica_manager = ctx.services.replica_manager
    for topic_data in request.topic_data:
        for pdata in topic_data.partition_data:
            part = replica_manager.get_partition(topic_data.name, pdata.index)
            records = pdata.records
            if part is None or type(records) is not memoryview or not len(records):
                continue
            try:
                out[topic_data.name, pdata.index] = part.validate_records(records)
            except (StorageError, CorruptRecordError, InvalidRecordError) as exc:
                out[topic_data.name, pdata.index] = exc
    return out


def _append(
    ctx: RequestContext, request: ProduceRequest, validated: Validated | None
) -> ProduceResponse | Coroutine[Any, Any, ProduceResponse] | None:
    node = ctx.services
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
            if name in INTERNAL_TOPICS:  # written only by their coordinators, never by clients
                parts.append(_error(index, ErrorCode.INVALID_TOPIC_EXCEPTION,
                                    f"Cannot append to internal topic {name}"))  # fmt: skip
                continue
            part = replica_manager.leader_partition(name, index)
            if isinstance(part, ErrorCode):
                parts.append(_error(index, part))
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
            if _more_than_one_batch(records):
                parts.append(_error(index, ErrorCode.INVALID_RECORD,
                                    f"Produce requests with version {ctx.api_version} are only "
                                    "allowed to contain exactly one record batch per partition"))  # fmt: skip
                continue
            if ctx.api_version < 7 and _uses_zstd(records):
                parts.append(_error(index, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
                                    f"Produce requests with version {ctx.api_version} are not "
                                    "allowed to use ZStandard compression"))  # fmt: skip
                continue
            try:
                pre = validated.get((name, index)) if validated else None
                if isinstance(pre, Exception):
                    raise pre
                info, durable = replica_manager.append(part, records, acks, now_ms, pre)
            except _EXPECTED as exc:
                refused = _validation_error(index, exc)
                if refused.error_code == ErrorCode.KAFKA_STORAGE_ERROR:
                    log.error("append to %s failed", part.tp, exc_info=exc)
                parts.append(refused)
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
        if ctx.close_connection is not None and any(
            p.error_code for t in responses for p in t.partition_responses
        ):
            log.info("closing %s: a produce with acks=0 failed", ctx.client_host)
            ctx.close_connection()
        return None
    response = ProduceResponse(responses=responses, throttle_time_ms=0)
    if flushes:
        return _after_flushes(ctx, response, flushes, request.timeout_ms if acks == -1 else None)
    return response


async def _after_flushes(
    ctx: RequestContext, response: ProduceResponse,
    flushes: list[tuple[list[PartitionResponse], int, asyncio.Future[None]]],
    timeout_ms: int | None,
) -> ProduceResponse:
    """Answer once every partition's fsync is done and, for acks=all, its records are on
    the whole ISR (Kafka's DelayedProduce), within the request's ``timeout_ms``: a partition
    still waiting then answers REQUEST_TIMED_OUT; one whose ISR shrank below
    ``min.insync.replicas`` NOT_ENOUGH_REPLICAS_AFTER_APPEND; one this broker stopped
    leading NOT_LEADER_OR_FOLLOWER; a failed fsync KAFKA_STORAGE_ERROR. acks=1 waits for
    its fsync alone, unbounded as before."""
    clock = ctx.services.clock
    deadline = clock.monotonic() + max(timeout_ms or 0, 0) / 1000.0
    for parts, i, waiting in flushes:
        try:
            if timeout_ms is None:
                await waiting
            else:
                await clock.wait_for(waiting, deadline - clock.monotonic())
        except TimeoutError:
            parts[i] = _error(parts[i].index, ErrorCode.REQUEST_TIMED_OUT)
        except (NotEnoughReplicasAfterAppendError, NotLeaderOrFollowerError) as exc:
            parts[i] = _error(parts[i].index, error_code_for(exc), str(exc) or None)
        except Exception as exc:
            log.error("flush of produced records failed", exc_info=exc)
            parts[i] = _error(parts[i].index, ErrorCode.KAFKA_STORAGE_ERROR, str(exc) or None)
    return response


def _consume_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and (exc := fut.exception()) is not None:
        log.error("flush of produced records failed", exc_info=exc)
