"""LeaveGroup: members leave (v3+: several, by member id or group instance id)."""

from __future__ import annotations

from collections.abc import Awaitable

from brook.broker.context import RequestContext, request_meta
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse

API_KEY = ApiKey.LEAVE_GROUP
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = LeaveGroupRequest


def handle(ctx: RequestContext, request: LeaveGroupRequest) -> Awaitable[LeaveGroupResponse]:
    return ctx.services.group_coordinator.service.leave_group(request_meta(ctx), request)
