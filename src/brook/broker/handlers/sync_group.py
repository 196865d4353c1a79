"""SyncGroup: the leader hands in the assignment; every member waits for its share."""

from __future__ import annotations

from collections.abc import Awaitable

from brook.broker.context import RequestContext, request_meta
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.sync_group import SyncGroupRequest, SyncGroupResponse

API_KEY = ApiKey.SYNC_GROUP
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = SyncGroupRequest


def handle(ctx: RequestContext, request: SyncGroupRequest) -> Awaitable[SyncGroupResponse]:
    return ctx.services.group_coordinator.service.sync_group(request_meta(ctx), request)
