"""BrokerHeartbeat: how a broker asks the active controller to let it shut down.

Liveness in a brook cluster is the broker's etcd lease, not this request; what remains of
Kafka's BrokerHeartbeat is its controlled shutdown: a broker stopping sends
``want_shut_down`` (forwarded to the active controller like an admin request), the controller
moves its leaderships to other ISR members and answers ``should_shut_down`` once it leads
nothing. A heartbeat without ``want_shut_down`` is answered from the image (fenced or not)
and changes nothing. Only requests on the inter-broker listener may ask to shut a broker
down.
"""

from __future__ import annotations

from brook.broker.context import RequestContext, from_inter_broker_listener
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.broker_heartbeat import (
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
)

API_KEY = ApiKey.BROKER_HEARTBEAT
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = BrokerHeartbeatRequest


async def handle(ctx: RequestContext, request: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse:
    registration = ctx.services.image.cluster.brokers.get(request.broker_id)
    fenced = registration is None or registration.fenced
    if not request.want_shut_down:
        return BrokerHeartbeatResponse(is_caught_up=not fenced, is_fenced=fenced)
    if not from_inter_broker_listener(ctx):
        return BrokerHeartbeatResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
                                       is_fenced=fenced)
    try:
        done = await ctx.services.controller.controlled_shutdown(
            request.broker_id, request.broker_epoch)
    except ControllerError as exc:
        return BrokerHeartbeatResponse(error_code=exc.code, is_fenced=fenced)
    return BrokerHeartbeatResponse(is_caught_up=True, is_fenced=fenced, should_shut_down=done)
