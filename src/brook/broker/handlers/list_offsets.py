"""ListOffsets: earliest, latest, by timestamp, and the offset of the max timestamp.

Special timestamps: -2 earliest (log start), -1 latest (high watermark, which is also the last
stable offset while brook has no transactions), -3 max timestamp (v7+), -4 earliest local
(v8+, same as earliest without tiered storage), -5 earliest tiered (v9+, none: -1).
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse

API_KEY = ApiKey.LIST_OFFSETS
MIN_VERSION = 0
MAX_VERSION = 10
REQUEST = ListOffsetsRequest

PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse


def _answer(ctx: RequestContext, topic: str, p: ListOffsetsRequest.ListOffsetsPartition) -> PartitionResponse:
    index = p.partition_index
    found = ctx.services.replica_manager.fetch_offset_for_timestamp(
        topic, index, p.current_leader_epoch, p.timestamp
    )
    if isinstance(found, ErrorCode):
        return PartitionResponse(partition_index=index, error_code=found)
    offset, found_ts, epoch = found
    if ctx.api_version == 0:
        return PartitionResponse(partition_index=index, error_code=ErrorCode.NONE,
                                 old_style_offsets=[offset] if offset >= 0 else [])
    # LeaderEpoch exists from v4; older versions cannot carry it (the encoder refuses).
    return PartitionResponse(partition_index=index, error_code=ErrorCode.NONE,
                             timestamp=found_ts, offset=offset,
                             leader_epoch=epoch if ctx.api_version >= 4 else -1)


def handle(ctx: RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse:
    topics = []
    for t in request.topics:
        seen: set[int] = set()
        parts = []
        for p in t.partitions:
            if p.partition_index in seen:
                parts.append(PartitionResponse(partition_index=p.partition_index,
                                               error_code=ErrorCode.INVALID_REQUEST))
                continue
            seen.add(p.partition_index)
            parts.append(_answer(ctx, t.name, p))
        topics.append(ListOffsetsResponse.ListOffsetsTopicResponse(name=t.name, partitions=parts))
    return ListOffsetsResponse(throttle_time_ms=0, topics=topics)
