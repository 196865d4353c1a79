"""A broker's own Kafka client to another broker: one request at a time on one connection.

What a broker asks of the active controller when the controller lives in another broker —
auto-created topics, producer-id blocks, admin operations a client sent here — travels as
ordinary Kafka requests, with the codec's inter-broker directions. Requests are few and small,
so one connection with one request in flight is enough; a broken connection is reopened by the
next request.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TypeVar

from brook.protocol._codec import Message, read_uvarint, skip_tags
from brook.protocol.headers import RequestHeader, request_header_version, response_header_version

__all__ = ["InterBrokerClient", "InterBrokerError"]

M = TypeVar("M", bound=Message)

_SIZE = struct.Struct(">i")
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class InterBrokerError(Exception):
    """The peer could not be reached or answered with something unreadable."""


class PeerUnreachable(InterBrokerError):
    """No connection to the peer could be opened: nothing was sent, so a retry is safe."""


class InterBrokerClient:
    def __init__(self, host: str, port: int, client_id: str, timeout_s: float = 30.0) -> None:
        self.host = host
        self.port = port
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._correlation = 0

    async def send(self, request: Message, version: int, response_type: type[M]) -> M:
        async with self._lock:
            try:
                return await asyncio.wait_for(
                    self._round_trip(request, version, response_type), self._timeout_s)
            except PeerUnreachable:
                raise
            except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                self._close()
                raise InterBrokerError(f"{self.host}:{self.port}: {exc!r}") from exc

    async def _round_trip(self, request: Message, version: int, response_type: type[M]) -> M:
        if self._streams is not None and (self._streams[0].at_eof() or self._streams[1].is_closing()):
            self._close()  # the peer closed it (e.g. it died): nothing to send it on
        if self._streams is None:
            try:
                self._streams = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                raise PeerUnreachable(f"{self.host}:{self.port}: {exc!r}") from exc
        reader, writer = self._streams
        self._correlation = (self._correlation + 1) & 0x7FFFFFFF
        api_key = request.API_KEY  # type: ignore[attr-defined]
        header = RequestHeader(
            request_api_key=api_key, request_api_version=version,
            correlation_id=self._correlation, client_id=self._client_id,
        ).to_bytes(request_header_version(api_key, version))
        body = request.to_bytes(version)
        writer.write(_SIZE.pack(len(header) + len(body)) + header + body)
        await writer.drain()
        (size,) = _SIZE.unpack(await reader.readexactly(4))
        if not 0 < size <= MAX_RESPONSE_BYTES:
            raise ValueError(f"response size {size}")
        buf = memoryview(await reader.readexactly(size))
        (correlation,) = _SIZE.unpack_from(buf, 0)
        if correlation != self._correlation:
            raise ValueError(f"correlation id {correlation}, expected {self._correlation}")
        pos = 4
        if response_header_version(api_key, version) >= 1:
            count, pos = read_uvarint(buf, pos)
            pos = skip_tags(buf, pos, count)
        response, _ = response_type.decode(buf, pos, version)
        return response

    def _close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    def close(self) -> None:
        self._close()
