"""What a handler sees: the request's context and the broker's services.

Handlers are plain functions ``handle(ctx, request) -> response`` (or an awaitable of one, or
``None`` for a request that gets no response, such as a produce with acks=0). They hold no state
of their own: everything lives in the services reachable from ``ctx.services``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from brook.coordinator.group import RequestMeta

if TYPE_CHECKING:
    from brook.broker.services import BrokerServices


FORWARDING_CLIENT_PREFIX = "brook-controller-forwarding-"
"""The client id a broker forwards controller requests under (then its node id)."""

FORWARDED: ContextVar[bool] = ContextVar("brook_forwarded_request", default=False)
"""True while serving a request another broker forwarded: it is decided here or refused,
never forwarded again (two brokers with stale, crossed views of the controller would
otherwise pass it back and forth)."""


@dataclass(slots=True)
class RequestContext:
    """One request: who sent it, on which listener, at which API version."""

    services: BrokerServices
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    listener_name: str
    client_host: str
    connection_id: str
    close_connection: Callable[[], None] | None = None
    """Closes the client's connection: how a request with no response (produce with
    acks=0) reports that it failed, as Kafka does."""


def request_meta(ctx: RequestContext) -> RequestMeta:
    """The group coordinator's view of a request's sender; hosts are shown as Kafka shows
    them."""
    host = ctx.client_host.rsplit(":", 1)[0] if ":" in ctx.client_host else ctx.client_host
    return RequestMeta(ctx.client_id or "", f"/{host}", ctx.api_version)


def from_inter_broker_listener(ctx: RequestContext) -> bool:
    """Whether a request came in on ``inter.broker.listener.name``: the APIs only brokers
    send (AlterPartition, a controlled shutdown's BrokerHeartbeat) are refused elsewhere, so a
    cluster whose brokers talk on a listener of their own keeps clients away from them."""
    return ctx.listener_name == ctx.services.config.inter_broker_listener_name
