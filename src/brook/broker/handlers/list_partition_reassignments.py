"""ListPartitionReassignments: the reassignments in progress, as the controller records them
(replicas, and the replicas being added and removed). Unknown topics and partitions, and those
not moving, are left out, as Kafka does."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
)

API_KEY = ApiKey.LIST_PARTITION_REASSIGNMENTS
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = ListPartitionReassignmentsRequest

_Topic = ListPartitionReassignmentsResponse.OngoingTopicReassignment
_Partition = ListPartitionReassignmentsResponse.OngoingPartitionReassignment


async def handle(ctx: RequestContext, request: ListPartitionReassignmentsRequest,
                 ) -> ListPartitionReassignmentsResponse:
    targets = None if request.topics is None else [
        (t.name, p) for t in request.topics for p in t.partition_indexes]
    try:
        ongoing = await ctx.services.controller.list_partition_reassignments(targets)
    except ControllerError as exc:
        return ListPartitionReassignmentsResponse(error_code=exc.code, error_message=exc.message)
    by_topic: dict[str, list[_Partition]] = {}
    for r in ongoing:
        by_topic.setdefault(r.topic, []).append(_Partition(
            partition_index=r.partition, replicas=list(r.replicas),
            adding_replicas=list(r.adding), removing_replicas=list(r.removing)))
    return ListPartitionReassignmentsResponse(
        error_code=ErrorCode.NONE, error_message=None,
        topics=[_Topic(name=name, partitions=parts) for name, parts in sorted(by_topic.items())])
