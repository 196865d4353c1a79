"""IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on single keys."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.configuration_control import ConfigOp
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)

API_KEY = ApiKey.INCREMENTAL_ALTER_CONFIGS
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = IncrementalAlterConfigsRequest


async def handle(
    ctx: RequestContext, request: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    changes = [
        (
            r.resource_type,
            r.resource_name,
            [ConfigOp(c.name, c.value, c.config_operation) for c in r.configs],
        )
        for r in request.resources
    ]
    errors = await ctx.services.controller.alter_configs(
        changes, request.validate_only, incremental=True
    )
    return IncrementalAlterConfigsResponse(
        throttle_time_ms=0,
        responses=[
            IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
                error_code=ErrorCode.NONE if err is None else err.code,
                error_message=None if err is None else err.message,
                resource_type=r.resource_type,
                resource_name=r.resource_name,
            )
            for r, err in zip(request.resources, errors, strict=True)
        ],
    )
