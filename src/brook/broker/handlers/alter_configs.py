"""AlterConfigs (the legacy, non-incremental form): replaces a topic's whole override set."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.configuration_control import ConfigOp
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.alter_configs import AlterConfigsRequest, AlterConfigsResponse

API_KEY = ApiKey.ALTER_CONFIGS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = AlterConfigsRequest


async def handle(ctx: RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse:
    changes = [
        (r.resource_type, r.resource_name, [ConfigOp(c.name, c.value) for c in r.configs])
        for r in request.resources
    ]
    errors = await ctx.services.controller.alter_configs(
        changes, request.validate_only, incremental=False
    )
    return AlterConfigsResponse(
        throttle_time_ms=0,
        responses=[
            AlterConfigsResponse.AlterConfigsResourceResponse(
                error_code=ErrorCode.NONE if err is None else err.code,
                error_message=None if err is None else err.message,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
            )
            for r, err in zip(request.resources, errors, strict=True)
        ],
    )
