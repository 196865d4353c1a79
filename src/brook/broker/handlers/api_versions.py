"""ApiVersions: what this broker serves, so clients negotiate versions both sides know.

The answer is built from the dispatch table, never written by hand. The tagged feature fields
of v3+ are left at their defaults (so not sent): librdkafka 2.0.x mis-parses some of them, and
brook has no finalized features to report.
"""

from __future__ import annotations

from functools import cache

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse

API_KEY = ApiKey.API_VERSIONS
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = ApiVersionsRequest


@cache
def supported_api_keys() -> list[ApiVersionsResponse.ApiVersion]:
    from brook.broker.dispatch import HANDLERS

    return [
        ApiVersionsResponse.ApiVersion(api_key=h.api_key, min_version=h.min_version,
                                       max_version=h.max_version)
        for h in sorted(HANDLERS.values(), key=lambda h: h.api_key)
    ]


def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    return ApiVersionsResponse(error_code=ErrorCode.NONE, api_keys=supported_api_keys())
