"""DeleteRecords: move a partition's log start offset forward (-1 means the high watermark)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse

API_KEY = ApiKey.DELETE_RECORDS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteRecordsRequest

Result = DeleteRecordsResponse.DeleteRecordsPartitionResult


def handle(ctx: RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse:
    rm = ctx.broker.replica_manager
    topics = []
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
            part.log.maybe_increment_log_start_offset(target)
            parts.append(Result(partition_index=p.partition_index,
                                low_watermark=part.log.log_start_offset,
                                error_code=ErrorCode.NONE))
        topics.append(DeleteRecordsResponse.DeleteRecordsTopicResult(name=t.name, partitions=parts))
    return DeleteRecordsResponse(throttle_time_ms=0, topics=topics)
