"""DeleteRecords: move a partition's log start offset forward (-1 means the high watermark).

The log start offset and segment list change at once on the event loop; the segments' files
and the leader-epoch checkpoint are removed in a worker thread, and the response waits for
that (Kafka answers once the segments are scheduled for deletion).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse
from brook.replication.partition import Partition
from brook.replication.replica_manager import ReplicaManager

API_KEY = ApiKey.DELETE_RECORDS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteRecordsRequest

Result = DeleteRecordsResponse.DeleteRecordsPartitionResult


def handle(
    ctx: RequestContext, request: DeleteRecordsRequest
) -> Coroutine[Any, Any, DeleteRecordsResponse]:
    rm = ctx.services.replica_manager
    topics = []
    owed: list[Partition] = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            low = rm.delete_records(t.name, p.partition_index, p.offset, owed)
            if isinstance(low, ErrorCode):
                parts.append(Result(partition_index=p.partition_index, low_watermark=-1,
                                    error_code=low))
            else:
                parts.append(Result(partition_index=p.partition_index, low_watermark=low,
                                    error_code=ErrorCode.NONE))
        topics.append(DeleteRecordsResponse.DeleteRecordsTopicResult(name=t.name, partitions=parts))
    return _after_file_work(DeleteRecordsResponse(throttle_time_ms=0, topics=topics), rm, owed)


async def _after_file_work(
    response: DeleteRecordsResponse, rm: ReplicaManager, owed: list[Partition]
) -> DeleteRecordsResponse:
    await rm.run_deferred_io(owed)
    return response
