"""Heartbeat: keep a member's session alive; the answer says whether to rejoin."""

from __future__ import annotations

from brook.broker.context import RequestContext, request_meta
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.heartbeat import HeartbeatRequest, HeartbeatResponse

API_KEY = ApiKey.HEARTBEAT
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = HeartbeatRequest


def handle(ctx: RequestContext, request: HeartbeatRequest) -> HeartbeatResponse:
    return ctx.services.group_coordinator.service.heartbeat(request_meta(ctx), request)
