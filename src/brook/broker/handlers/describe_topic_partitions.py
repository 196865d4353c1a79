"""DescribeTopicPartitions: topics and their partitions, a page at a time.

This is what Kafka 3.8+ AdminClients (``kafka-topics.sh --describe``) ask instead of Metadata:
the answer is paged by partitions, so a topic with a hundred thousand partitions never makes
one huge response. Topics are answered in name order starting at the request's cursor; once
the partition budget (the request's limit, capped by Kafka's default
``max.request.partition.size.limit`` of 2000) runs out, ``next_cursor`` names the first
partition not sent and the client asks again from there.

brook has no eligible leader replicas (ELR, KIP-966), so both ELR lists are empty, as Kafka
answers for a partition whose ELR is empty (never null: null would make the tools print
``N/A``, which they print only for a broker that does not serve this API).
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.topic_names import INTERNAL_TOPICS, validate_topic_name
from brook.metadata.image import MetadataImage, TopicImage
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest,
    DescribeTopicPartitionsResponse,
)

API_KEY = ApiKey.DESCRIBE_TOPIC_PARTITIONS
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = DescribeTopicPartitionsRequest

MAX_REQUEST_PARTITION_SIZE_LIMIT = 2000
"""Kafka's default ``max.request.partition.size.limit``: the most partitions one response
carries, whatever the client asks."""

_ZERO = b"\x00" * 16
# READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: all allowed
# while no authorizer is configured.
_ALL_TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))

Response = DescribeTopicPartitionsResponse
Topic = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
Partition = DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition


def _partitions(image: MetadataImage, topic: TopicImage, start: int, count: int) -> list[Partition]:
    out = []
    live = {b.broker_id for b in image.cluster.brokers.values() if not b.fenced}
    for index in range(start, min(len(topic.partitions), start + count)):
        reg = topic.partitions.get(index)
        if reg is None:
            continue
        out.append(Partition(
            error_code=ErrorCode.NONE,
            partition_index=index,
            leader_id=reg.leader if reg.leader in live else -1,
            leader_epoch=reg.leader_epoch,
            replica_nodes=list(reg.replicas),
            isr_nodes=list(reg.isr),
            eligible_leader_replicas=[],
            last_known_elr=[],
            offline_replicas=[r for r in reg.replicas if r not in live],
        ))
    return out


def _invalid(request: DescribeTopicPartitionsRequest, message: str) -> Response:
    """Kafka's answer to a request it cannot serve: every named topic with INVALID_REQUEST."""
    del message  # the response has no field for it; Kafka only logs it
    return Response(topics=[
        Topic(error_code=ErrorCode.INVALID_REQUEST, name=t.name, topic_id=_ZERO)
        for t in request.topics
    ])


def handle(ctx: RequestContext, request: DescribeTopicPartitionsRequest) -> Response:
    image = ctx.services.image
    cursor = request.cursor
    cursor_topic = cursor.topic_name if cursor is not None else ""
    fetch_all = not request.topics
    if fetch_all:
        names = {n for n in image.topics.by_name if n >= cursor_topic}
    else:
        names = {t.name for t in request.topics if t.name >= cursor_topic}
        if cursor is not None and cursor.topic_name not in names:
            return _invalid(request, "the topic list must contain the cursor topic")
    if cursor is not None and cursor.partition_index < 0:
        return _invalid(request, "the cursor partition must be valid")

    remaining = max(min(MAX_REQUEST_PARTITION_SIZE_LIMIT, request.response_partition_limit), 1)
    response = Response(throttle_time_ms=0, topics=[], next_cursor=None)
    for name in sorted(names):
        if remaining == 0:
            # Every partition of the topics before is sent: the next page starts here.
            response.next_cursor = Response.Cursor(topic_name=name, partition_index=0)
            break
        topic = image.topics.by_name.get(name)
        if topic is None:
            if not fetch_all:
                bad = validate_topic_name(name) is not None
                response.topics.append(Topic(
                    error_code=ErrorCode.INVALID_TOPIC_EXCEPTION if bad
                    else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                    name=name, topic_id=_ZERO, is_internal=name in INTERNAL_TOPICS,
                ))
            continue
        start = cursor.partition_index if cursor is not None and name == cursor_topic else 0
        parts = _partitions(image, topic, start, remaining)
        response.topics.append(Topic(
            error_code=ErrorCode.NONE, name=name, topic_id=topic.topic_id,
            is_internal=name in INTERNAL_TOPICS, partitions=parts,
            topic_authorized_operations=_ALL_TOPIC_OPS,
        ))
        upper = min(len(topic.partitions), start + remaining)
        if upper < len(topic.partitions):
            response.next_cursor = Response.Cursor(topic_name=name, partition_index=upper)
            break
        remaining -= len(parts)
    return response
