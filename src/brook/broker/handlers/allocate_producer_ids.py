"""AllocateProducerIds: a block of producer ids for another broker of the cluster.

Brokers that are not the active controller ask it for blocks with this request (Kafka's
inter-broker API); the controller reserves the block with a committed record, so no id is
handed out twice across brokers, restarts or controller changes.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.allocate_producer_ids import (
    AllocateProducerIdsRequest,
    AllocateProducerIdsResponse,
)

API_KEY = ApiKey.ALLOCATE_PRODUCER_IDS
MIN_VERSION = 0
MAX_VERSION = 0
REQUEST = AllocateProducerIdsRequest


async def handle(ctx: RequestContext, request: AllocateProducerIdsRequest) -> AllocateProducerIdsResponse:
    try:
        start, length = await ctx.services.controller.allocate_producer_ids(request.broker_id)
    except ControllerError as exc:
        return AllocateProducerIdsResponse(error_code=exc.code)
    return AllocateProducerIdsResponse(producer_id_start=start, producer_id_len=length)
