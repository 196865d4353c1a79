"""DeleteTopics, by name (v0+) or by topic id (v6+)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_topics import DeleteTopicsRequest, DeleteTopicsResponse

API_KEY = ApiKey.DELETE_TOPICS
MIN_VERSION = 0
MAX_VERSION = 6
REQUEST = DeleteTopicsRequest

_ZERO = b"\x00" * 16
Result = DeleteTopicsResponse.DeletableTopicResult


async def handle(ctx: RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse:
    node = ctx.services
    if ctx.api_version >= 6:
        targets = [
            (t.name, None) if t.name is not None else (None, t.topic_id) for t in request.topics
        ]
    else:
        targets = [(name, None) for name in request.topic_names]
    if not node.config.delete_topic_enable:
        return DeleteTopicsResponse(
            responses=[
                Result(name=n, topic_id=tid or _ZERO, error_code=ErrorCode.TOPIC_DELETION_DISABLED)
                for n, tid in targets
            ]
        )
    outcomes = await node.controller.delete_topics(targets)
    return DeleteTopicsResponse(
        throttle_time_ms=0,
        responses=[
            Result(
                name=name,
                topic_id=topic_id,
                error_code=ErrorCode.NONE if err is None else err.code,
                error_message=None if err is None else err.message,
            )
            for name, topic_id, err in outcomes
        ],
    )
