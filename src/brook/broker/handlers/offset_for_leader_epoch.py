"""OffsetForLeaderEpoch: the end offset of a leader epoch, from the leader-epoch cache.

Consumers use it after a leader change to detect log truncation (KIP-320); followers will use
it to find where their log diverges from the leader's.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)

API_KEY = ApiKey.OFFSET_FOR_LEADER_EPOCH
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = OffsetForLeaderEpochRequest

EpochEndOffset = OffsetForLeaderEpochResponse.EpochEndOffset


def handle(ctx: RequestContext, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse:
    rm = ctx.broker.replica_manager
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            part = rm.get_partition(t.topic, p.partition)
            if part is None:
                parts.append(EpochEndOffset(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                            partition=p.partition))
                continue
            if not part.is_leader:
                parts.append(EpochEndOffset(error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER,
                                            partition=p.partition))
                continue
            if p.current_leader_epoch >= 0 and p.current_leader_epoch != part.leader_epoch:
                code = (ErrorCode.FENCED_LEADER_EPOCH
                        if p.current_leader_epoch < part.leader_epoch
                        else ErrorCode.UNKNOWN_LEADER_EPOCH)
                parts.append(EpochEndOffset(error_code=code, partition=p.partition))
                continue
            epoch, end_offset = part.log.leader_epoch_cache.end_offset_for(
                p.leader_epoch, part.log.log_end_offset
            )
            parts.append(EpochEndOffset(error_code=ErrorCode.NONE, partition=p.partition,
                                        leader_epoch=epoch, end_offset=end_offset))
        topics.append(OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(
            topic=t.topic, partitions=parts))
    return OffsetForLeaderEpochResponse(throttle_time_ms=0, topics=topics)
