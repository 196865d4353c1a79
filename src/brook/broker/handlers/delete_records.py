"""DeleteRecords: move a partition's log start offset forward (-1 means the high watermark).

The log start offset and segment list change at once on the event loop; the segments' files
and the leader-epoch checkpoint are removed in a worker thread, and the response waits for
that (Kafka answers once the segments are scheduled for deletion).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse
from brook.storage.log import Log

API_KEY = ApiKey.DELETE_RECORDS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteRecordsRequest

Result = DeleteRecordsResponse.DeleteRecordsPartitionResult


def handle(
    ctx: RequestContext, request: DeleteRecordsRequest
) -> Coroutine[Any, Any, DeleteRecordsResponse]:
    rm = ctx.broker.replica_manager
    topics = []
    changed: list[Log] = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            part = rm.get_partition(t.name, p.partition_index)
            if part is None:
                parts.append(Result(partition_index=p.partition_index, low_watermark=-1,
                                    error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
                continue
            if not part.is_leader:
                parts.append(Result(partition_index=p.partition_index, low_watermark=-1,
                                    error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER))
                continue
            target = part.high_watermark if p.offset == -1 else p.offset
            if target < 0 or target > part.high_watermark:
                parts.append(Result(partition_index=p.partition_index, low_watermark=-1,
                                    error_code=ErrorCode.OFFSET_OUT_OF_RANGE))
                continue
            if part.log.maybe_increment_log_start_offset(target, defer_io=True):
                changed.append(part.log)
            parts.append(Result(partition_index=p.partition_index,
                                low_watermark=part.log.log_start_offset,
                                error_code=ErrorCode.NONE))
        topics.append(DeleteRecordsResponse.DeleteRecordsTopicResult(name=t.name, partitions=parts))
    return _after_file_work(DeleteRecordsResponse(throttle_time_ms=0, topics=topics), changed)


async def _after_file_work(
    response: DeleteRecordsResponse, logs: list[Log]
) -> DeleteRecordsResponse:
    if logs:
        await asyncio.to_thread(_run_deferred_io, logs)
    return response


def _run_deferred_io(logs: list[Log]) -> None:
    for plog in logs:
        plog.run_deferred_io()
