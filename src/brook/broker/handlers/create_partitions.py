"""CreatePartitions: add partitions to a topic (never remove them)."""

from __future__ import annotations

from collections import Counter

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
)

API_KEY = ApiKey.CREATE_PARTITIONS
MIN_VERSION = 0
MAX_VERSION = 3
REQUEST = CreatePartitionsRequest

Result = CreatePartitionsResponse.CreatePartitionsTopicResult


async def handle(ctx: RequestContext, request: CreatePartitionsRequest) -> CreatePartitionsResponse:
    dupes = {n for n, k in Counter(t.name for t in request.topics).items() if k > 1}
    asks = [
        (t.name, t.count, [list(a.broker_ids) for a in t.assignments] if t.assignments else None)
        for t in request.topics if t.name not in dupes
    ]
    outcomes = iter(await ctx.services.controller.create_partitions(asks, request.validate_only))
    results = []
    seen: set[str] = set()
    for t in request.topics:
        if t.name in dupes:
            if t.name not in seen:
                seen.add(t.name)
                results.append(Result(name=t.name, error_code=ErrorCode.INVALID_REQUEST,
                                      error_message="Duplicate topic in request."))
            continue
        err = next(outcomes)
        results.append(Result(name=t.name,
                              error_code=ErrorCode.NONE if err is None else err.code,
                              error_message=None if err is None else err.message))
    return CreatePartitionsResponse(throttle_time_ms=0, results=results)
