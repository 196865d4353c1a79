"""The REST listener's HTTP protocol: uvicorn's h11 protocol with a deadline for request heads.

uvicorn closes a connection that idles *between* requests (``timeout_keep_alive``), but a
connection that never finishes sending a request line and headers is kept for ever, so a
client that trickles bytes (slow-loris) holds a socket and a file descriptor per connection at
no cost to itself, until the worker runs out of descriptors for its Kafka clients and files.
Here every request head - the first on a connection and each next one on a kept-alive
connection - must be complete within ``rest.request.header.timeout.ms``; otherwise the
connection is closed. Reading the body is bounded separately (``rest_security.BodyLimit``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineProtocol(H11Protocol):
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _head_expired(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_head():
            self._disarm()  # a whole head arrived: the request runs, its body is bounded

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol(head_timeout_ms: int) -> type[HeadDeadlineProtocol]:
    """The protocol class uvicorn instantiates per connection, with the worker's deadline."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,),
                {"head_timeout_s": head_timeout_ms / 1000})
