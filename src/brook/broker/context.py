"""What a handler sees: the request's context and the broker's services.

Handlers are plain functions ``handle(ctx, request) -> response`` (or an awaitable of one, or
``None`` for a request that gets no response, such as a produce with acks=0). They hold no state
of their own: everything lives in the services reachable from ``ctx.services``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from brook.broker.services import BrokerServices


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
