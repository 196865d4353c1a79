"""DescribeProducers: the idempotent and transactional producers a partition leader tracks.

Answered from each leader partition's producer state (the same entries the log uses to
reject duplicate and out-of-order batches), as ``kafka-transactions.sh describe-producers``
and ``Admin.describeProducers`` show them. Only the leader answers; another broker says
NOT_LEADER_OR_FOLLOWER so the client looks the leader up again.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_producers import (
    DescribeProducersRequest,
    DescribeProducersResponse,
)

API_KEY = ApiKey.DESCRIBE_PRODUCERS
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = DescribeProducersRequest

PartitionResponse = DescribeProducersResponse.PartitionResponse
ProducerState = DescribeProducersResponse.ProducerState


def _partition(ctx: RequestContext, topic: str, index: int) -> PartitionResponse:
    part = ctx.services.replica_manager.leader_partition(topic, index)
    if isinstance(part, ErrorCode):
        return PartitionResponse(partition_index=index, error_code=part, error_message=None)
    producers = [
        ProducerState(
            producer_id=pid,
            producer_epoch=entry.producer_epoch,
            last_sequence=entry.last_seq,
            last_timestamp=entry.last_timestamp,
            coordinator_epoch=entry.coordinator_epoch,
            current_txn_start_offset=(
                -1 if entry.current_txn_first_offset is None else entry.current_txn_first_offset
            ),
        )
        for pid, entry in sorted(part.log.producer_state.active_producers.items())
    ]
    return PartitionResponse(partition_index=index, error_code=ErrorCode.NONE,
                             error_message=None, active_producers=producers)


def handle(ctx: RequestContext, request: DescribeProducersRequest) -> DescribeProducersResponse:
    topics = []
    for t in request.topics:
        parts = [_partition(ctx, t.name, index) for index in dict.fromkeys(t.partition_indexes)]
        topics.append(DescribeProducersResponse.TopicResponse(name=t.name, partitions=parts))
    return DescribeProducersResponse(throttle_time_ms=0, topics=topics)
