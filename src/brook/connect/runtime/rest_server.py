"""The REST listener's HTTP protocol: uvicorn's h11 protocol with a deadline for requests.

uvicorn closes a connection that idles *between* requests (``timeout_keep_alive``), but a
connection that never finishes sending a request line, headers or body is kept for ever, so a
client that trickles bytes (slow-loris) holds a socket and a file descriptor per connection at
no cost to itself, until the worker runs out of descriptors for its Kafka clients and files.
Here every request - the first on a connection and each next one on a kept-alive connection -
must have arrived whole (line, headers and body; the body is at most
``rest.request.max.bytes``) within ``rest.request.read.timeout.ms``; otherwise the connection
is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from brook.env.clock import SYSTEM_CLOCK, Clock, TimerHandle


class ReadDeadlineProtocol(H11Protocol):
    read_timeout_s = 10.0
    clock: Clock = SYSTEM_CLOCK
    """The deadline's timer (the running loop's, through the clock door)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._read_timer = self.clock.call_later(self.read_timeout_s, self._read_expired)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _reading(self) -> bool:
        """Is a request still arriving (or none begun) on this connection?"""
        return self.cycle is None or self.cycle.response_complete or self.cycle.more_body

    def _read_expired(self) -> None:
        self._read_timer = None
        if self._reading() and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._reading():
            self._disarm()  # the whole request arrived: only the handler's work remains

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol(read_timeout_ms: int) -> type[ReadDeadlineProtocol]:
    """The protocol class uvicorn instantiates per connection, with the worker's deadline."""
    return type("ReadDeadlineProtocol", (ReadDeadlineProtocol,),
                {"read_timeout_s": read_timeout_ms / 1000})
