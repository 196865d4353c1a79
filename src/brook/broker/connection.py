"""One client connection: framing, pipelining, in-order responses, back-pressure.

Frames are read with a ``BufferedProtocol``: small frames are parsed out of one staging
buffer (a few syscalls serve many pipelined requests) and copied into their own ``bytearray``.
A frame larger than half the staging buffer first reserves its claimed size from the broker's
request memory pool (``queued.max.request.bytes``; the connection is muted while the pool
cannot cover it or an earlier frame waits for it), then gets its own ``bytearray`` that the kernel fills directly, sized by what
the client has really sent (see ``_EAGER_FRAME_BYTES``), so a header that claims 100 MB costs
about what the client really sends. Either way the request frame is
writable, so produce can patch offsets in place, and the records inside it are never copied
again before they reach the log.

Admission (``max.connections``, ``max.connections.per.ip``) and the idle timer
(``connections.max.idle.ms``, refreshed by complete requests and responses only) are kept by
``connection_limits.ConnectionLimits``.

Responses leave in request order (clients match them by position, not only by correlation
id): each request takes a slot in ``_slots``; a slot whose response is ready is written as soon
as every earlier slot has been. Handlers that must wait (acks=all, long-poll fetch) return an
awaitable and do not block later requests from being *processed*, only from being *answered*
early. Reading pauses when too many responses are outstanding or the socket's write buffer is
full, so a connection's memory is bounded by configuration, not by load.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable
from struct import Struct
from typing import TYPE_CHECKING, Any, Protocol

from brook.broker.context import FORWARDED, FORWARDING_CLIENT_PREFIX, RequestContext
from brook.broker.dispatch import HANDLERS, supported_api_keys
from brook.protocol._codec import LOW_LEVEL_DECODE_ERRORS, Message
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode, ProtocolDecodeError
from brook.protocol.headers import response_frame_head
from brook.protocol.messages.api_versions import ApiVersionsResponse

if TYPE_CHECKING:
    from brook.broker.services import BrokerServices


class ConnectionOwner(Protocol):
    """What a connection needs from the broker that accepted it (``BrokerNode``): its
    services, and the set of open connections it closes at shutdown."""

    @property
    def services(self) -> BrokerServices: ...

    @property
    def connections(self) -> set[KafkaConnection]: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

_NO_STAGING = bytearray()

log = logging.getLogger(__name__)

_STAGING_BYTES = 64 * 1024
_MAX_INFLIGHT = 100
_FIRST_FRAME_BYTES = 1024 * 1024
_EAGER_FRAME_BYTES = 16 * 1024 * 1024
"""A large frame's buffer starts at its size, or ``_FIRST_FRAME_BYTES`` if it claims more; once
the client has filled that, a frame up to ``_EAGER_FRAME_BYTES`` gets its whole buffer (one
copy of at most 1 MiB: large produce stays fast) and a larger one doubles as bytes arrive."""


_SIZE = Struct(">i")
_KEY_VERSION_CORRELATION = Struct(">hhi")


def _frame_response(
    response: Message, correlation_id: int, version: int, flexible_header: bool
) -> list[Any]:
    """Size prefix and response header, then the body's chunks (one ``bytes`` when it fits)."""
    body = response.encode(version)
    size = 0
    for chunk in body:
        size += chunk.nbytes if type(chunk) is memoryview else len(chunk)
    head = response_frame_head(correlation_id, flexible_header, size)
    if len(body) == 1:
        return [head + body[0]]
    return [head, *body]


def _forwarded_task(result: Awaitable[Any], loop: asyncio.AbstractEventLoop | None,
                    ) -> asyncio.Future[Any]:
    """Run in a copied context: the task created here carries ``FORWARDED`` set."""
    FORWARDED.set(True)
    return asyncio.ensure_future(result, loop=loop)


class _Slot:
    """A response position on the connection: filled once, written in order."""

    __slots__ = ("chunks", "ready", "reserved")

    def __init__(self) -> None:
        self.chunks: list[Any] | None = None
        self.ready = False
        self.reserved = 0  # pool bytes held by the request until its response is ready


class KafkaConnection(asyncio.BufferedProtocol):
    """Lifecycle: created by the listener per accepted socket; lives until either side closes
    or a malformed frame arrives. Runs entirely on the broker's event loop."""

    _ids = 0

    def __init__(self, broker: ConnectionOwner, listener_name: str) -> None:
        self.broker = broker
        self._services = broker.services
        self.listener_name = listener_name
        self.max_request_bytes = broker.services.config.socket_request_max_bytes
        self.transport: asyncio.Transport | None = None
        self._limits = broker.services.connection_limits
        self._clock = broker.services.clock
        # Allocated once the connection is admitted: refused connections cost nothing.
        self._staging = _NO_STAGING
        self._staging_view = memoryview(self._staging)
        self._start = 0
        self._end = 0
        self._frame: bytearray | None = None
        self._frame_got = 0
        self._frame_size = 0  # the claimed size of the large frame being read
        self._reserved = 0  # pool bytes reserved for it
        self._slots: deque[_Slot] = deque()
        self._inflight_paused = False
        self._write_paused = False
        self._pool_paused = False
        self._reading_paused = False
        self._closed = False
        self._admitted = False
        self._last_active = 0.0
        self.client_ip = "?"
        self.client_host = "?"
        KafkaConnection._ids += 1
        self.connection_id = f"c{KafkaConnection._ids}"

    # -- asyncio protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport's interface without subclassing it.
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip = str(peer[0])
            self.client_host = f"{peer[0]}:{peer[1]}"
        refused = self._limits.admit(self.client_ip)
        if refused is not None:
            log.info("closing %s right after accept: %s", self.client_host, refused)
            self._closed = True
            transport.close()
            return
        self._admitted = True
        self._staging = bytearray(_STAGING_BYTES)
        self._staging_view = memoryview(self._staging)
        self._last_active = self._clock.monotonic()
        self.broker.connections.add(self)
        if self.broker.loop is not None:
            self._limits.watch_idle(self.broker.loop, self.broker.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        for slot in self._slots:
            if slot.reserved:
                self._release_reservation(slot.reserved)
                slot.reserved = 0
        self._slots.clear()
        self._frame = None
        if self._pool_paused:
            self._limits.pool.cancel_wait(self._reserve_granted)
        self._release_reservation()
        if self._admitted:
            self._admitted = False
            self.broker.connections.discard(self)
            self._limits.release(self.client_ip)

    # -- idle timer (connection_limits.IdleCheckable) --------------------------------------
    def idle_since(self) -> float | None:
        """When the last request completed or response left; None while one is in progress
        (a long-poll fetch or acks=all produce is not idleness)."""
        return None if self._slots else self._last_active

    def close_idle(self, idle_s: float) -> None:
        log.info(
            "closing %s: no complete request or response for %.1f s (connections.max.idle.ms)",
            self.client_host, idle_s,
        )
        self.close()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        frame = self._frame
        if frame is not None:
            if self._frame_got == len(frame):
                frame = self._grow_frame(frame)
            return memoryview(frame)[self._frame_got :]
        if _STAGING_BYTES - self._end < 4096:
            self._compact()
        return self._staging_view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        frame = self._frame
        if frame is not None:
            self._frame_got += nbytes
            if self._frame_got == self._frame_size:
                self._frame = None
                reserved, self._reserved = self._reserved, 0
                self._on_frame(frame, reserved)
                if not self._closed:
                    self._parse()
            return
        self._end += nbytes
        self._parse()

    def eof_received(self) -> bool | None:
        return None

    # -- framing ---------------------------------------------------------------------------
    def _compact(self) -> None:
        live = self._end - self._start
        if live and self._start:
            self._staging[:live] = self._staging[self._start : self._end]
        self._start = 0
        self._end = live

    def _parse(self) -> None:
        buf = self._staging
        while (
            not self._closed and not self._inflight_paused and not self._pool_paused
            and self._end - self._start >= 4
        ):
            start = self._start
            (size,) = _SIZE.unpack_from(buf, start)
            if size < 8 or size > self.max_request_bytes:
                log.warning(
                    "closing %s: request size %d outside [8, %d] (socket.request.max.bytes)",
                    self.client_host, size, self.max_request_bytes,
                )
                self.close()
                return
            avail = self._end - start - 4
            if avail >= size:
                frame = buf[start + 4 : start + 4 + size]
                self._start = start + 4 + size
                self._on_frame(frame)
                continue
            if size + 4 > _STAGING_BYTES - start and size + 4 > _STAGING_BYTES // 2:
                # Large frame: its own buffer, filled directly by the kernel, once the pool
                # has room for it.
                self._frame_size = size
                if self._limits.pool.try_reserve(size):
                    self._reserved = size
                    self._start_frame()
                else:
                    self._pool_paused = True
                    self._update_reading()
                    self._limits.pool.wait(size, self._reserve_granted)
            return
        if self._start == self._end:
            self._start = self._end = 0

    def _start_frame(self) -> None:
        """Move what the staging buffer holds of the large frame into the frame's own buffer."""
        size = self._frame_size
        begin = self._start + 4
        avail = self._end - begin
        frame = bytearray(size if size <= _FIRST_FRAME_BYTES else max(avail, _FIRST_FRAME_BYTES))
        frame[:avail] = self._staging[begin : self._end]
        self._frame = frame
        self._frame_got = avail
        self._start = self._end = 0

    def _grow_frame(self, frame: bytearray) -> bytearray:
        """A fresh, larger buffer (the kernel may still hold a view of the old one, so it is
        never resized in place); doubling keeps the total copying under the frame's size."""
        size = self._frame_size
        grown = bytearray(size if size <= _EAGER_FRAME_BYTES else min(size, 2 * len(frame)))
        grown[: len(frame)] = frame
        self._frame = grown
        return grown

    def _reserve_granted(self) -> None:
        """Called by the pool once the large frame's bytes are reserved for it (its turn)."""
        if self._closed:
            self._limits.pool.release(self._frame_size)
            return
        self._reserved = self._frame_size
        self._pool_paused = False
        self._start_frame()
        self._update_reading()

    def _release_reservation(self, nbytes: int | None = None) -> None:
        if nbytes is None:
            nbytes, self._reserved = self._reserved, 0
        if nbytes:
            self._limits.pool.release(nbytes)

    # -- requests --------------------------------------------------------------------------
    def _on_frame(self, frame: bytearray, reserved: int = 0) -> None:
        """Handle one complete request; ``reserved`` pool bytes are released once its response
        is ready (a waiting produce still holds its frame until then)."""
        self._last_active = self._clock.monotonic()
        if not reserved:
            self._dispatch(frame)
            return
        pending = None
        try:
            pending = self._dispatch(frame)
        finally:
            if pending is not None and not self._closed:
                pending.reserved = reserved
            else:
                self._release_reservation(reserved)

    def _dispatch(self, frame: bytearray) -> _Slot | None:
        """Decode and hand to the handler; the slot when the answer is still to come."""
        # _parse refuses frames under 8 bytes: api key, version and correlation id are there.
        api_key, version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame, 0)
        handler = HANDLERS.get(api_key)
        if handler is None or not handler.min_version <= version <= handler.max_version:
            if api_key == ApiKey.API_VERSIONS:
                self._answer_unsupported_api_versions(correlation_id)
                return None
            log.warning(
                "closing %s: unsupported api key %d version %d", self.client_host, api_key, version
            )
            self.close()
            return None
        mv = memoryview(frame)
        try:
            header, pos = handler.header_decoders[version](mv, 0)
            request, _ = handler.request_decoders[version](mv, pos)
        except (ProtocolDecodeError, *LOW_LEVEL_DECODE_ERRORS) as exc:
            log.warning(
                "closing %s: malformed %s v%d request: %s",
                self.client_host, handler.name, version, exc,
            )
            self.close()
            return None
        ctx = RequestContext(
            self._services, api_key, version, correlation_id, header.client_id,
            self.listener_name, self.client_host, self.connection_id, self.close,
        )
        try:
            result = handler.handle(ctx, request)
        except Exception:
            log.exception("%s v%d handler failed; closing %s", handler.name, version, self.client_host)
            self.close()
            return None
        if result is None:
            return None  # no response (produce with acks=0)
        flexible_header = handler.flexible_response_header[version]
        if not isinstance(result, Message):  # an awaitable: controller, long-poll fetch, groups
            slot = _Slot()
            self._slots.append(slot)
            if ctx.client_id and ctx.client_id.startswith(FORWARDING_CLIENT_PREFIX):
                fut = contextvars.copy_context().run(_forwarded_task, result, self.broker.loop)
            else:
                fut = asyncio.ensure_future(result, loop=self.broker.loop)
            fut.add_done_callback(
                lambda f: self._complete(slot, f, correlation_id, version, flexible_header)
            )
            if len(self._slots) >= _MAX_INFLIGHT:
                self._inflight_paused = True
                self._update_reading()
            return slot
        chunks = _frame_response(result, correlation_id, version, flexible_header)
        if not self._slots:
            self._write(chunks)
            return None
        slot = _Slot()
        slot.chunks = chunks
        slot.ready = True
        self._slots.append(slot)
        return None

    def _complete(
        self, slot: _Slot, fut: Awaitable[Any], correlation_id: int, version: int,
        flexible_header: bool,
    ) -> None:
        if slot.reserved:
            self._release_reservation(slot.reserved)
            slot.reserved = 0
        if self._closed:
            return
        assert isinstance(fut, asyncio.Future)
        if fut.cancelled():
            self.close()
            return
        exc = fut.exception()
        if exc is not None:
            log.error("request failed; closing %s", self.client_host, exc_info=exc)
            self.close()
            return
        result = fut.result()
        # None: a request answered by no response (produce with acks=0) that held its place.
        slot.chunks = (
            [] if result is None
            else _frame_response(result, correlation_id, version, flexible_header)
        )
        slot.ready = True
        self._drain_slots()

    def _drain_slots(self) -> None:
        slots = self._slots
        while slots and slots[0].ready:
            chunks = slots.popleft().chunks
            assert chunks is not None
            if chunks:
                self._write(chunks)
        if self._inflight_paused and len(slots) < _MAX_INFLIGHT // 2:
            self._inflight_paused = False
            self._update_reading()
            self._parse()

    def _write(self, chunks: list[Any]) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        self._last_active = self._clock.monotonic()
        if len(chunks) == 1:
            transport.write(chunks[0])
        else:
            transport.writelines(chunks)

    def _answer_unsupported_api_versions(self, correlation_id: int) -> None:
        """A client newer than us asked ApiVersions at a version we don't know: answer v0 with
        UNSUPPORTED_VERSION and our ranges, so it retries at a version we share."""
        response = ApiVersionsResponse(
            error_code=ErrorCode.UNSUPPORTED_VERSION, api_keys=supported_api_keys()
        )
        self._write(_frame_response(response, correlation_id, 0, False))

    # -- flow control ----------------------------------------------------------------------
    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or self._closed:
            return
        want_pause = self._write_paused or self._inflight_paused or self._pool_paused
        if want_pause and not self._reading_paused:
            self._reading_paused = True
            transport.pause_reading()
        elif not want_pause and self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, unsent bytes included: ``close`` waits for the write
        buffer to drain, which a peer that stopped reading never lets happen."""
        self._closed = True
        if self.transport is not None:
            self.transport.abort()
