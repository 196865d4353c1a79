"""JoinGroup: enter a classic group; the response waits for the rebalance to complete."""

from __future__ import annotations

from collections.abc import Awaitable

from brook.broker.context import RequestContext, request_meta
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.join_group import JoinGroupRequest, JoinGroupResponse

API_KEY = ApiKey.JOIN_GROUP
MIN_VERSION = 0
MAX_VERSION = 9
REQUEST = JoinGroupRequest


def handle(ctx: RequestContext, request: JoinGroupRequest) -> Awaitable[JoinGroupResponse]:
    return ctx.services.group_coordinator.service.join_group(request_meta(ctx), request)
