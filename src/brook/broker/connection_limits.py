"""What a client can make the broker hold: connections, descriptors, request memory, time.

Kafka's answers, with brook's defaults where Kafka's are unbounded:

* ``max.connections`` (broker-wide) and ``max.connections.per.ip`` (with
  ``max.connections.per.ip.overrides``): a connection over a limit is closed right after
  ``accept``. Without ``max.connections`` the bound is derived from the descriptor limit, less a
  reserve for segments, indexes and the metadata log, so client connections alone can never
  exhaust the process's descriptors (``accept`` failing with EMFILE).
* ``connections.max.idle.ms``: a connection with no completed request or response for that long
  is closed. A request that trickles in a byte at a time completes nothing, so a slow-loris
  client is closed by the same timer.
* ``queued.max.request.bytes``: a memory pool for the requests being read. A large frame
  reserves its claimed size before its body is read; while the pool cannot cover it, or an
  earlier request is waiting, the connection stops reading (is muted) until its turn comes. The buffer
  itself grows as the bytes arrive, so a header that merely claims 100 MB costs nothing real.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import socket
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from brook.env import Clock

if TYPE_CHECKING:
    from brook.broker.config import BrokerConfig

log = logging.getLogger(__name__)

MIN_RESERVED_FDS = 256
"""Descriptors kept out of reach of clients: log segments and their indexes, the metadata log,
checkpoints, worker threads' files: a quarter of the limit, at least this many, at most half."""
_NOFILE_CEILING = 1 << 20


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Kafka's start scripts expect of the
    service manager) and return the soft limit now in effect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _NOFILE_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the descriptor limit from %d to %d: %s", soft, target, exc)
    return _NOFILE_CEILING if soft == resource.RLIM_INFINITY else soft


def nofile_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return _NOFILE_CEILING if soft == resource.RLIM_INFINITY else soft


def derived_max_connections(nofile: int) -> int:
    """The largest ``max.connections`` the descriptor limit can carry with the reserve kept."""
    return max(1, nofile - min(max(MIN_RESERVED_FDS, nofile // 4), nofile // 2))


def _resolve(host: str) -> str:
    """Overrides name hosts as Kafka does (address or name); compare by address."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(host)
    except OSError:
        log.warning("max.connections.per.ip.overrides: cannot resolve %r; ignored", host)
        return host


class MemoryPool:
    """Bytes reserved by requests being read (Kafka's ``SimpleMemoryPool``, kept strict).

    A reservation is granted when it fits in what is free, or when nothing at all is reserved
    (so one request larger than the pool still makes progress): the memory held by requests in
    flight never exceeds ``max(capacity, largest request)``. Callers are served first come,
    first served: while anyone waits, ``try_reserve`` refuses and the caller queues behind, and
    a release grants waiters in order for as long as the first one fits. Letting smaller
    requests pass a waiting larger one would starve it: two connections whose smaller frames
    overlap keep the pool from ever having room for it.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.available = capacity
        self._waiters: deque[tuple[int, Callable[[], None]]] = deque()

    @property
    def reserved(self) -> int:
        return self.capacity - self.available

    def _fits(self, nbytes: int) -> bool:
        return nbytes <= self.available or self.available == self.capacity

    def try_reserve(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` now if nobody is waiting and they fit; else the caller should
        ``wait``."""
        if self._waiters or not self._fits(nbytes):
            return False
        self.available -= nbytes
        return True

    def release(self, nbytes: int) -> None:
        self.available += nbytes
        waiters = self._waiters
        while waiters and self._fits(waiters[0][0]):
            size, granted = waiters.popleft()
            self.available -= size
            granted()

    def wait(self, nbytes: int, granted: Callable[[], None]) -> None:
        """Queue for ``nbytes``; ``granted`` is called once they are reserved for the caller."""
        self._waiters.append((nbytes, granted))

    def cancel_wait(self, granted: Callable[[], None]) -> None:
        """Leave the queue (a closed connection); the next waiters may now fit."""
        before = len(self._waiters)
        self._waiters = deque(w for w in self._waiters if w[1] != granted)
        if len(self._waiters) != before:
            self.release(0)


class IdleCheckable(Protocol):
    def idle_since(self) -> float | None: ...

    def close_idle(self, idle_s: float) -> None: ...


class ConnectionLimits:
    """Per-broker connection accounting; event-loop thread only.

    ``admit``/``release`` are called by each connection as it is made and lost; the idle check
    runs on the loop while any connection is open and stops by itself when none is.
    """

    def __init__(self, config: BrokerConfig, clock: Clock, nofile: int | None = None) -> None:
        self.clock = clock
        ceiling = derived_max_connections(nofile if nofile is not None else nofile_limit())
        configured = config.max_connections
        if configured is not None and configured > ceiling:
            log.warning(
                "max.connections=%d exceeds what the descriptor limit can carry; using %d",
                configured, ceiling,
            )
        self.max_connections = ceiling if configured is None else min(configured, ceiling)
        self.max_per_ip = config.max_connections_per_ip
        self.per_ip_overrides: Mapping[str, int] = {
            _resolve(host): n for host, n in config.max_connections_per_ip_overrides.items()
        }
        self.idle_s = config.connections_max_idle_ms / 1000.0
        self.pool = MemoryPool(config.queued_max_request_bytes)
        self.count = 0
        self.by_ip: dict[str, int] = {}
        self.refused = 0
        self.idle_closed = 0
        self._check: asyncio.TimerHandle | None = None
        self._connections: Iterable[IdleCheckable] = ()
        self._loop: asyncio.AbstractEventLoop | None = None

    def limit_for(self, ip: str) -> int:
        return self.per_ip_overrides.get(ip, self.max_per_ip)

    def admit(self, ip: str) -> str | None:
        """Count a new connection from ``ip``; the reason it must be closed, or None."""
        if self.count >= self.max_connections:
            self.refused += 1
            return f"broker has {self.count} connections (max.connections={self.max_connections})"
        from_ip = self.by_ip.get(ip, 0)
        limit = self.limit_for(ip)
        if from_ip >= limit:
            self.refused += 1
            return f"{ip} has {from_ip} connections (max.connections.per.ip={limit})"
        self.count += 1
        self.by_ip[ip] = from_ip + 1
        return None

    def release(self, ip: str) -> None:
        self.count -= 1
        left = self.by_ip.get(ip, 1) - 1
        if left > 0:
            self.by_ip[ip] = left
        else:
            self.by_ip.pop(ip, None)

    # -- idle connections ------------------------------------------------------------------
    @property
    def check_interval_s(self) -> float:
        """A tenth of the idle timeout, within [50 ms, 10 s]: closes at most 10% late."""
        return min(10.0, max(0.05, self.idle_s / 10))

    def watch_idle(
        self, loop: asyncio.AbstractEventLoop, connections: Iterable[IdleCheckable]
    ) -> None:
        """Start the periodic idle check over ``connections`` unless it is already running."""
        self._connections = connections
        self._loop = loop
        if self._check is None:
            self._check = loop.call_later(self.check_interval_s, self._check_idle)

    def _check_idle(self) -> None:
        self._check = None
        now = self.clock.monotonic()
        any_open = False
        for conn in list(self._connections):
            any_open = True
            since = conn.idle_since()
            if since is not None and now - since >= self.idle_s:
                self.idle_closed += 1
                conn.close_idle(now - since)
        if any_open and self._loop is not None and not self._loop.is_closed():
            self._check = self._loop.call_later(
                self.check_interval_s, self._check_idle
            )
