"""ListGroups: the groups this broker coordinates (v4+ filtered by state, v5+ by type)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.list_groups import ListGroupsRequest, ListGroupsResponse

API_KEY = ApiKey.LIST_GROUPS
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = ListGroupsRequest


def handle(ctx: RequestContext, request: ListGroupsRequest) -> ListGroupsResponse:
    version = ctx.api_version
    states = {s.lower() for s in request.states_filter} if version >= 4 else set()
    types = {t.lower() for t in request.types_filter} if version >= 5 else set()
    error, groups = ctx.services.group_coordinator.service.list_groups(states, types)
    return ListGroupsResponse(throttle_time_ms=0, error_code=error, groups=groups)
