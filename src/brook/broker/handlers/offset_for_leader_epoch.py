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
    rm = ctx.services.replica_manager
    topics = []
    for t in request.topics:
        parts = []
        for p in t.partitions:
            found = rm.end_offset_for_epoch(
                t.topic, p.partition, p.current_leader_epoch, p.leader_epoch
            )
            if isinstance(found, ErrorCode):
                parts.append(EpochEndOffset(error_code=found, partition=p.partition))
                continue
            epoch, end_offset = found
            parts.append(EpochEndOffset(error_code=ErrorCode.NONE, partition=p.partition,
                                        leader_epoch=epoch, end_offset=end_offset))
        topics.append(OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult(
            topic=t.topic, partitions=parts))
    return OffsetForLeaderEpochResponse(throttle_time_ms=0, topics=topics)
