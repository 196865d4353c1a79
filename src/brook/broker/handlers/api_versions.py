"""ApiVersions: what this broker serves, so clients negotiate versions both sides know.

The answer is built from the dispatch table, never written by hand. The tagged feature fields
of v3+ are left at their defaults (so not sent): librdkafka 2.0.x mis-parses some of them, and
brook has no finalized features to report.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse

API_KEY = ApiKey.API_VERSIONS
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = ApiVersionsRequest


def handle(ctx: RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse:
    return ApiVersionsResponse(error_code=ErrorCode.NONE, api_keys=ctx.services.api_versions)
