"""InitProducerId for idempotent producers (no transactional id).

Transactional ids need the transaction coordinator, which brook does not have yet: such
requests get INVALID_REQUEST, a fatal error that the client reports, rather than a producer
id that would pretend to support transactions.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.init_producer_id import (
    InitProducerIdRequest,
    InitProducerIdResponse,
)

API_KEY = ApiKey.INIT_PRODUCER_ID
MIN_VERSION = 0
MAX_VERSION = 5
REQUEST = InitProducerIdRequest


async def handle(ctx: RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse:
    if request.transactional_id is not None:
        return InitProducerIdResponse(
            throttle_time_ms=0, error_code=ErrorCode.INVALID_REQUEST,
            producer_id=-1, producer_epoch=-1,
        )
    pid = await ctx.services.producer_ids.generate()
    return InitProducerIdResponse(
        throttle_time_ms=0, error_code=ErrorCode.NONE, producer_id=pid, producer_epoch=0
    )
