"""DeleteGroups: remove empty groups and their committed offsets (tombstones)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.delete_groups import DeleteGroupsRequest, DeleteGroupsResponse

API_KEY = ApiKey.DELETE_GROUPS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = DeleteGroupsRequest


async def handle(ctx: RequestContext, request: DeleteGroupsRequest) -> DeleteGroupsResponse:
    results = await ctx.services.group_coordinator.service.delete_groups(request.groups_names)
    return DeleteGroupsResponse(throttle_time_ms=0, results=results)
