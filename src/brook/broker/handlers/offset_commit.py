"""OffsetCommit: store a group's consumed positions; answered once the records are durable.

Partitions of topics this cluster does not have are refused here with
UNKNOWN_TOPIC_OR_PARTITION, as Kafka's request layer does; the rest go to the coordinator.
"""

from __future__ import annotations

from brook.broker.context import RequestContext, request_meta
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse

API_KEY = ApiKey.OFFSET_COMMIT
MIN_VERSION = 0
MAX_VERSION = 9
REQUEST = OffsetCommitRequest

RequestTopic = OffsetCommitRequest.OffsetCommitRequestTopic
ResponseTopic = OffsetCommitResponse.OffsetCommitResponseTopic
ResponsePartition = OffsetCommitResponse.OffsetCommitResponsePartition


async def handle(ctx: RequestContext, request: OffsetCommitRequest) -> OffsetCommitResponse:
    topics = ctx.services.image.topics.by_name
    known: list[RequestTopic] = []
    unknown: dict[tuple[str, int], ErrorCode] = {}
    for topic in request.topics:
        image = topics.get(topic.name)
        parts = []
        for p in topic.partitions:
            if image is None or p.partition_index not in image.partitions:
                unknown[(topic.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                parts.append(p)
        if parts:
            known.append(RequestTopic(name=topic.name, partitions=parts))
    original = request.topics
    request.topics = known
    answered: dict[tuple[str, int], int] = {}
    if known or not unknown:
        response = await ctx.services.group_coordinator.service.commit_offsets(
            request_meta(ctx), request)
        for t in response.topics:
            for rp in t.partitions:
                answered[(t.name, rp.partition_index)] = rp.error_code
    out = [
        ResponseTopic(name=t.name, partitions=[
            ResponsePartition(
                partition_index=p.partition_index,
                error_code=unknown.get((t.name, p.partition_index))
                or answered.get((t.name, p.partition_index), ErrorCode.NONE),
            )
            for p in t.partitions
        ])
        for t in original
    ]
    return OffsetCommitResponse(throttle_time_ms=0, topics=out)
