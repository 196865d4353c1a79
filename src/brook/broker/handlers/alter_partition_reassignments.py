"""AlterPartitionReassignments: move partitions to new replicas, decided by the controller.

Forwarded to the active controller (``metadata.controller.reassignment``); each partition is
answered on its own: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT (an empty or
duplicated target, an unregistered broker), NO_REASSIGNMENT_IN_PROGRESS for cancelling what is
not moving. The answer comes once the move is recorded; it completes when the new replicas
have joined the ISR (ListPartitionReassignments shows it until then).
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.partition_change import ElectionResult
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
)

API_KEY = ApiKey.ALTER_PARTITION_REASSIGNMENTS
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = AlterPartitionReassignmentsRequest

_Topic = AlterPartitionReassignmentsResponse.ReassignableTopicResponse
_Partition = AlterPartitionReassignmentsResponse.ReassignablePartitionResponse


async def handle(ctx: RequestContext, request: AlterPartitionReassignmentsRequest,
                 ) -> AlterPartitionReassignmentsResponse:
    asks = [(t.name, p.partition_index, None if p.replicas is None else list(p.replicas))
            for t in request.topics for p in t.partitions]
    try:
        results = await ctx.services.controller.alter_partition_reassignments(asks)
    except ControllerError as exc:
        results = [ElectionResult(name, index, exc.code, exc.message) for name, index, _ in asks]
    by_topic: dict[str, list[_Partition]] = {t.name: [] for t in request.topics}
    for r in results:
        by_topic.setdefault(r.topic, []).append(_Partition(
            partition_index=r.partition, error_code=r.error,
            error_message=None if r.error == ErrorCode.NONE else r.message))
    return AlterPartitionReassignmentsResponse(
        error_code=ErrorCode.NONE, error_message=None,
        responses=[_Topic(name=name, partitions=parts) for name, parts in by_topic.items()])
