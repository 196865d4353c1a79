"""Loopback TCP proxies that fail links between processes on command, for cluster fault tests.

A fault test puts one proxy in front of everything a broker is reached on by another process
of the cluster: each broker's etcd connection goes through a proxy of its own (etcd cannot
tell its clients apart), and each broker's inter-broker listener is advertised at a proxy, so
every follower fetch and every forwarded controller request to that broker crosses it.

A *link* is (source, destination): ``("broker-2", "etcd")`` is broker 2's metadata store,
``("broker-2", "broker-1")`` every connection broker 2 opens to broker 1. Each link is in one
:class:`Mode` at a time, changed while traffic flows:

* ``PASS``: bytes are forwarded as they come (plus ``delay_s`` of latency each way if set;
  latency, not a bandwidth limit: chunks queue and leave at their due time).
* ``DROP``: a blackhole. New connections are accepted and then stall; open ones stop moving in
  both directions, so requests time out as over a partitioned network. Back to ``PASS`` and
  whatever the peers still hold resumes, as TCP does after a partition heals in time.
* ``RESET``: open connections are reset (RST, not FIN) and new ones are reset as soon as
  their source is known: a refused link, as a host down or a firewall's reject looks.

How a proxy knows the source: a proxy per broker to etcd has it fixed. Inter-broker
connections all go to one advertised endpoint, so the proxy reads the first Kafka request of
each connection (before forwarding anything) and takes the source from its client id:
replica fetchers call themselves ``broker-<node id>-fetcher-<leader id>`` and brokers
forwarding to the controller ``brook-controller-forwarding-<node id>``
(:func:`source_of_client_id`). An unrecognised client falls under the ``"*"`` source's rule.

Everything runs on one asyncio loop in a daemon thread (:class:`FaultNet`), so traffic keeps
moving while the test's own thread blocks in a client call or a sleep; mode changes are
applied on that loop and are in effect when ``set_link`` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["ANY", "FaultNet", "Mode", "Proxy", "source_of_client_id"]

T = TypeVar("T")

ANY = "*"
"""The source a rule applies to when no rule names the connection's own source."""

_CHUNK = 65536
_QUEUED_CHUNKS = 64
"""Chunks in flight per direction of a connection: bounded memory, backpressure beyond."""
_HEADER = struct.Struct(">ihhih")  # size, api key, api version, correlation id, client id length
_MAX_FIRST_REQUEST = 1 << 20

_SOURCE_PATTERNS = (
    re.compile(r"^broker-(\d+)-"),  # replica fetchers: broker-<node>-fetcher-<leader>
    re.compile(r"^brook-[a-z][a-z-]*-(\d+)$"),  # brook-controller-forwarding-<node> and kin
)


def source_of_client_id(client_id: str | None) -> str:
    """The link source a Kafka client id names: ``broker-<node id>``, else :data:`ANY`."""
    for pattern in _SOURCE_PATTERNS:
        m = pattern.match(client_id or "")
        if m is not None:
            return f"broker-{int(m.group(1))}"
    return ANY


class Mode(enum.Enum):
    PASS = "pass"
    DROP = "drop"
    RESET = "reset"


@dataclass(frozen=True)
class _Rule:
    mode: Mode = Mode.PASS
    delay_s: float = 0.0


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Connection:
    source: str
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    closed: bool = False

    def reset(self) -> None:
        """Abort both sides with RST and stop the connection's tasks."""
        self._end(_reset)

    def close(self) -> None:
        """Close both sides in order (FIN): the connection ended on its own."""
        self._end(lambda w: w.close() if w is not None else None)

    def _end(self, how: Callable[[asyncio.StreamWriter | None], None]) -> None:
        if self.closed:
            return
        self.closed = True
        how(self.client)
        how(self.upstream)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


class Proxy:
    """One listening port forwarding to ``127.0.0.1:upstream_port`` (built by :class:`FaultNet`).

    ``accepted`` and ``bytes_by_source`` count what each source sent, so a test can see that
    connections were told apart.
    """

    def __init__(self, net: FaultNet, dest: str, upstream_port: int, source: str | None) -> None:
        self.net = net
        self.dest = dest
        self.upstream_port = upstream_port
        self.fixed_source = source
        self.port = 0
        self.accepted: Counter[str] = Counter()
        self.bytes_by_source: Counter[str] = Counter()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connections(self, source: str | None = None) -> int:
        """Open connections (from ``source``, or all)."""
        return sum(1 for c in self._connections if source is None or c.source == source)

    async def _start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port,
                                                  limit=_CHUNK)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.reset()
        self._connections.clear()

    def _reset_where(self, source: str) -> None:
        for conn in list(self._connections):
            if source in (ANY, conn.source) and self.net._rule(conn.source, self.dest).mode \
                    is Mode.RESET:
                conn.reset()
                self._connections.discard(conn)

    async def _identify(self, reader: asyncio.StreamReader) -> tuple[str, bytes]:
        """The source and the bytes read to learn it (forwarded first once the link passes)."""
        if self.fixed_source is not None:
            return self.fixed_source, b""
        head = await reader.readexactly(_HEADER.size)
        size, _, _, _, id_len = _HEADER.unpack(head)
        if size < _HEADER.size - 4 or size > _MAX_FIRST_REQUEST or id_len > size - 10:
            return ANY, head  # not a Kafka request this proxy can read: the catch-all rule
        client_id = await reader.readexactly(id_len) if id_len > 0 else b""
        return source_of_client_id(client_id.decode("utf-8", "replace")), head + client_id

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(ANY, writer)
        self._connections.add(conn)
        task = asyncio.current_task()
        assert task is not None
        conn.tasks.append(task)
        try:
            conn.source, first = await self._identify(reader)
            self.accepted[conn.source] += 1
            if not await self.net._gate(conn.source, self.dest):
                conn.reset()  # a refused link: RST as soon as the source is known
                return
            up_reader, conn.upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port, limit=_CHUNK)
            if first:
                self.bytes_by_source[conn.source] += len(first)
                conn.upstream.write(first)
            pumps = [
                asyncio.create_task(self._pump(conn, reader, conn.upstream, count=True)),
                asyncio.create_task(self._pump(conn, up_reader, writer, count=False)),
            ]
            conn.tasks += pumps
            await asyncio.gather(*pumps)
        except OSError:
            conn.reset()  # upstream down or a side reset: the other side sees a reset too
        except asyncio.IncompleteReadError:
            pass
        except asyncio.CancelledError:
            if not conn.closed:
                raise
        finally:
            conn.close()
            self._connections.discard(conn)

    async def _pump(self, conn: _Connection, src: asyncio.StreamReader,
                    dst: asyncio.StreamWriter, count: bool) -> None:
        """Read into a bounded queue; a writer task delivers each chunk when its link lets it."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED_CHUNKS)
        deliver = asyncio.create_task(self._deliver(conn, queue, dst))
        conn.tasks.append(deliver)
        try:
            while True:
                chunk = await src.read(_CHUNK)
                if count:
                    self.bytes_by_source[conn.source] += len(chunk)
                rule = self.net._rule(conn.source, self.dest)
                await queue.put((loop.time() + rule.delay_s, chunk))
                if not chunk:
                    break
            await deliver
        finally:
            deliver.cancel()

    async def _deliver(self, conn: _Connection, queue: asyncio.Queue[tuple[float, bytes]],
                       dst: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, chunk = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not await self.net._gate(conn.source, self.dest):
                conn.reset()
                return
            if not chunk:  # the sender closed its side: pass the half-close on
                if dst.can_write_eof():
                    dst.write_eof()
                return
            dst.write(chunk)
            await dst.drain()


class FaultNet:
    """The proxies of one test and the mode of every link, on one event loop in a thread.

    ``proxy(dest, upstream_port, source=...)`` listens on a free loopback port (or ``port``);
    ``set_link(source, dest, mode)`` changes a link (``source`` may be :data:`ANY`);
    ``heal()`` puts every link back to ``PASS``. Use as a context manager, or call ``close``.
    """

    def __init__(self) -> None:
        self.proxies: list[Proxy] = []
        self._rules: dict[tuple[str, str], _Rule] = {}
        self._loop = asyncio.new_event_loop()
        self._changed: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-net",
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> FaultNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def proxy(self, dest: str, upstream_port: int, source: str | None = None,
              port: int = 0) -> Proxy:
        """A proxy to ``upstream_port`` for connections to ``dest``; ``source`` fixes who
        connects through it (else each connection's first Kafka request tells)."""
        proxy = Proxy(self, dest, upstream_port, source)
        self._call(proxy._start(port))
        self.proxies.append(proxy)
        return proxy

    def set_link(self, source: str, dest: str, mode: Mode, delay_s: float = 0.0) -> None:
        """Put connections from ``source`` to ``dest`` in ``mode`` (open ones included)."""
        self._call(self._set(source, dest, _Rule(mode, delay_s)))

    def mode(self, source: str, dest: str) -> Mode:
        return self._rule(source, dest).mode

    def heal(self) -> None:
        """Every link back to ``PASS`` with no delay; stalled connections resume."""
        self._call(self._clear())

    def close(self) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # -- on the loop ---------------------------------------------------------------------------

    def _rule(self, source: str, dest: str) -> _Rule:
        rule = self._rules.get((source, dest))
        if rule is None:
            rule = self._rules.get((ANY, dest), _Rule())
        return rule

    async def _gate(self, source: str, dest: str) -> bool:
        """Wait while the link drops; False if it resets (the caller closes the connection)."""
        while True:
            mode = self._rule(source, dest).mode
            if mode is Mode.PASS:
                return True
            if mode is Mode.RESET:
                return False
            await asyncio.shield(self._changed)

    def _notify(self) -> None:
        changed, self._changed = self._changed, self._loop.create_future()
        changed.set_result(None)

    async def _set(self, source: str, dest: str, rule: _Rule) -> None:
        if rule == _Rule():
            self._rules.pop((source, dest), None)
        else:
            self._rules[(source, dest)] = rule
        if rule.mode is Mode.RESET:
            for proxy in self.proxies:
                if proxy.dest == dest:
                    proxy._reset_where(source)
        self._notify()

    async def _clear(self) -> None:
        self._rules.clear()
        self._notify()

    async def _stop_all(self) -> None:
        for proxy in self.proxies:
            await proxy._stop()
