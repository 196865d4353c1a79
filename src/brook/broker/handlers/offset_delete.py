"""OffsetDelete: drop a group's offsets for topics it no longer consumes."""

from __future__ import annotations

from collections.abc import Awaitable

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse

API_KEY = ApiKey.OFFSET_DELETE
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = OffsetDeleteRequest


def handle(ctx: RequestContext, request: OffsetDeleteRequest) -> Awaitable[OffsetDeleteResponse]:
    return ctx.services.group_coordinator.service.delete_offsets(request)
