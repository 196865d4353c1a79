"""FindCoordinator: which broker coordinates a group (v4+: several groups at once).

The coordinator of a group is the leader of its ``__consumer_offsets`` partition; the topic
is created the first time anyone asks, and the answer is that broker's endpoint on the
listener the request came in on.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.find_coordinator import (
    FindCoordinatorRequest,
    FindCoordinatorResponse,
)

API_KEY = ApiKey.FIND_COORDINATOR
MIN_VERSION = 0
MAX_VERSION = 6
REQUEST = FindCoordinatorRequest


async def handle(ctx: RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse:
    coordinator = ctx.services.group_coordinator
    version = ctx.api_version
    key_type = request.key_type if version >= 1 else 0
    if version >= 4:
        found = []
        for key in request.coordinator_keys:
            node = await coordinator.find_coordinator(key, key_type, ctx.listener_name)
            found.append(FindCoordinatorResponse.Coordinator(
                key=key, node_id=node.node_id, host=node.host, port=node.port,
                error_code=node.error, error_message=node.message,
            ))
        return FindCoordinatorResponse(throttle_time_ms=0, coordinators=found)
    node = await coordinator.find_coordinator(request.key, key_type, ctx.listener_name)
    return FindCoordinatorResponse(
        throttle_time_ms=0, error_code=node.error, error_message=node.message,
        node_id=node.node_id, host=node.host, port=node.port,
    )
