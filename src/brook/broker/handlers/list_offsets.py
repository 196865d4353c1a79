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

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, EARLIEST_TIERED = -1, -2, -3, -4, -5

PartitionResponse = ListOffsetsResponse.ListOffsetsPartitionResponse


def _answer(ctx: RequestContext, topic: str, p: ListOffsetsRequest.ListOffsetsPartition) -> PartitionResponse:
    node = ctx.broker
    index = p.partition_index
    part = node.replica_manager.get_partition(topic, index)
    if part is None:
        return PartitionResponse(partition_index=index,
                                 error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if not part.is_leader:
        return PartitionResponse(partition_index=index, error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER)
    if p.current_leader_epoch >= 0 and p.current_leader_epoch != part.leader_epoch:
        code = (ErrorCode.FENCED_LEADER_EPOCH if p.current_leader_epoch < part.leader_epoch
                else ErrorCode.UNKNOWN_LEADER_EPOCH)
        return PartitionResponse(partition_index=index, error_code=code)
    plog = part.log
    ts = p.timestamp
    offset, found_ts, epoch = -1, -1, -1
    if ts == LATEST:
        offset, epoch = part.high_watermark, part.leader_epoch
    elif ts in (EARLIEST, EARLIEST_LOCAL):
        offset = plog.log_start_offset
        epoch = plog.leader_epoch_cache.epoch_for_offset(offset)
    elif ts == EARLIEST_TIERED:
        pass
    elif ts == MAX_TIMESTAMP:
        found = plog.offset_of_max_timestamp()
        if found.offset >= 0:
            offset, found_ts, epoch = found.offset, found.timestamp, found.leader_epoch
    elif ts < 0:
        return PartitionResponse(partition_index=index, error_code=ErrorCode.INVALID_REQUEST)
    else:
        hit = plog.fetch_offset_by_timestamp(ts)
        if hit is not None and hit.offset < part.high_watermark:
            offset, found_ts, epoch = hit.offset, hit.timestamp, hit.leader_epoch
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
