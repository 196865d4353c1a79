"""DescribeGroups: state, protocol, members and (for a Stable group) their assignments."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.describe_groups import DescribeGroupsRequest, DescribeGroupsResponse

API_KEY = ApiKey.DESCRIBE_GROUPS
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = DescribeGroupsRequest


def handle(ctx: RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse:
    include = ctx.api_version >= 3 and request.include_authorized_operations
    groups = ctx.services.group_coordinator.service.describe_groups(request.groups, include)
    return DescribeGroupsResponse(throttle_time_ms=0, groups=groups)
