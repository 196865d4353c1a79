"""Noticing at once that a peer broker's process died, instead of when its session runs out.

A broker killed by ``kill -9``, the OOM killer or a crash stops renewing its etcd lease, and
the cluster fences it only when the lease runs out: ``broker.session.timeout.ms``, 9 s by
default, nine seconds in which the partitions it led accept no write. Yet the death of a
process shows sooner: the kernel closes its sockets, so a connection held open to its listener
ends, and connecting again is refused because nothing listens on that port any more.

So each broker holds one idle TCP connection to the inter-broker listener of each peer it
watches (no bytes are sent: it costs the peer one idle socket). When one ends, it connects
again at once; :data:`REFUSALS` refused connections in a row, :data:`REFUSAL_INTERVAL_S` apart,
are the evidence, and the owner is told (``on_dead``), which revokes the lease of that
incarnation only: what etcd would do when the lease expired, sooner.

What counts, and what does not:

- only a refused connect (``ECONNREFUSED``) to a listener this broker has seen open under
  that incarnation is evidence (a broker registers before it opens its listeners, so one
  still starting refuses connections too). A connect that times out (a host
  down, a partition that drops packets) or a connection accepted and then closed (a proxy, a
  TLS handshake timeout, a connection limit) never is: those fall back to the session, as in
  Kafka;
- a refused connect also comes from a firewall that rejects. Fencing a live broker is safe
  (it registers again and the controller unfences it), but it must not repeat: evidence is
  acted on **once per incarnation** until a connection to that incarnation succeeds again.
  A broker wrongly judged dead registers again at once and is left alone afterwards;
- a broker that closes its listener while stopping is judged dead a little early; its
  controlled shutdown has moved its leaderships already.

Who acts is the owner's business (:mod:`brook.broker.cluster`): the active controller on any
broker, the other brokers on the active controller only.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from brook.env.clock import Clock

if TYPE_CHECKING:
    from brook.metadata.image import MetadataImage

__all__ = ["Peer", "PeerLiveness", "refuses", "watched_peers"]

log = logging.getLogger(__name__)

REFUSALS = 3
"""Refused connects in a row that make the evidence: a margin against a refusal that is not
the end of the process (a saturated listener with ``tcp_abort_on_overflow`` resets)."""
REFUSAL_INTERVAL_S = 0.1
CONNECT_TIMEOUT_S = 2.0
RETRY_S = 1.0
"""Between attempts that were neither accepted nor refused, and after a connection the peer
closed within :data:`SHORT_LIVED_S` (so a peer that closes idle sockets is not hammered)."""
SHORT_LIVED_S = 1.0
KEPT = 1024
"""Incarnations remembered (acted on, seen listening): one per broker restart."""
POLL_S = 0.25
"""How often the set of watched peers is compared with the metadata image."""


@dataclass(frozen=True, slots=True)
class Peer:
    node_id: int
    incarnation: bytes
    host: str
    port: int


def watched_peers(image: MetadataImage, node_id: int, listener: str) -> dict[int, Peer]:
    """Every other registered, unfenced broker reachable on ``listener``."""
    peers: dict[int, Peer] = {}
    for reg in image.cluster.brokers.values():
        if reg.broker_id == node_id or reg.fenced:
            continue
        ep = reg.endpoint(listener)
        if ep is not None and ep.port > 0:
            peers[reg.broker_id] = Peer(reg.broker_id, reg.incarnation_id, ep.host, ep.port)
    return peers


Connect = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
"""How a connection is opened (``asyncio.open_connection`` unless a test says otherwise)."""


class PeerLiveness:
    """Lifecycle: ``run`` until cancelled. ``peers()`` is read every :data:`POLL_S`."""

    def __init__(self, peers: Callable[[], dict[int, Peer]],
                 on_dead: Callable[[Peer], Awaitable[bool]], clock: Clock,
                 connect: Connect | None = None) -> None:
        self._peers = peers
        self._on_dead = on_dead
        self._clock = clock
        self._connect: Connect = connect or _open
        self._watchers: dict[int, tuple[Peer, asyncio.Task[None]]] = {}
        self._acted: dict[tuple[int, bytes], None] = {}
        """Incarnations judged dead and acted on, until a connection to them succeeds. Kept
        while the incarnation is fenced (a live one wrongly judged dead comes back unfenced
        under the same incarnation and must not be judged again); the oldest are forgotten
        past :data:`KEPT`."""
        self._listened: dict[tuple[int, bytes], None] = {}
        """Incarnations seen listening: only a listener that went away is evidence. A broker
        registers before it opens its listeners (it catches up first), and one still starting
        refuses connections without being dead."""

    async def run(self) -> None:
        try:
            while True:
                self._reconcile(self._peers())
                await self._clock.sleep(POLL_S)
        finally:
            tasks = [t for _, t in self._watchers.values()]
            self._watchers.clear()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _reconcile(self, wanted: dict[int, Peer]) -> None:
        for node_id in list(self._watchers):
            peer, task = self._watchers[node_id]
            if wanted.get(node_id) != peer or task.done():
                task.cancel()
                del self._watchers[node_id]
        loop = asyncio.get_running_loop()
        for node_id, peer in wanted.items():
            if node_id not in self._watchers:
                self._watchers[node_id] = (peer, loop.create_task(self._watch(peer)))

    async def _watch(self, peer: Peer) -> None:
        refused = 0
        reported = False
        while True:
            outcome = await self._attempt(peer)
            if outcome == "refused" and (peer.node_id, peer.incarnation) in self._listened:
                refused += 1
                if refused >= REFUSALS:
                    refused = 0
                    if not reported:
                        reported = True
                        log.warning("broker %d (%s:%d) refuses connections: its process is gone",
                                    peer.node_id, peer.host, peer.port)
                    await self._judge_dead(peer)
                    await self._clock.sleep(RETRY_S)
                else:
                    await self._clock.sleep(REFUSAL_INTERVAL_S)
                continue
            if outcome == "refused":  # never listening yet (still starting): no evidence
                await self._clock.sleep(REFUSAL_INTERVAL_S)
                continue
            refused = 0
            reported = False
            if outcome in ("short", "failed"):  # "failed" may fail at once: no busy loop
                await self._clock.sleep(RETRY_S)
            # "closed" after a while: connect again at once, the peer may have just died

    async def _attempt(self, peer: Peer) -> str:
        """Connect and hold the connection until it ends: ``refused``, ``failed`` (neither
        accepted nor refused), ``short`` (closed soon after it opened) or ``closed``."""
        try:
            reader, writer = await asyncio.wait_for(
                self._connect(peer.host, peer.port), CONNECT_TIMEOUT_S)
        except ConnectionRefusedError:
            return "refused"
        except OSError as exc:
            if exc.errno == errno.ECONNREFUSED:
                return "refused"
            return "failed"
        except (TimeoutError, ValueError):  # ValueError: a host no resolver takes (IDNA)
            return "failed"
        key = (peer.node_id, peer.incarnation)
        self._acted.pop(key, None)
        _remember(self._listened, key)
        opened = self._clock.monotonic()
        try:
            while await reader.read(4096):
                pass  # a broker sends nothing unasked; whatever comes is dropped
        except OSError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return "short" if self._clock.monotonic() - opened < SHORT_LIVED_S else "closed"

    async def _judge_dead(self, peer: Peer) -> None:
        """Tell the owner, unless it acted on this incarnation already. The owner answers
        whether it acted: one whose role gives it nothing to do now (not the controller) is
        told again on the next evidence, in case its role changed meanwhile (the controller
        died with this peer, and this broker took over)."""
        key = (peer.node_id, peer.incarnation)
        if key in self._acted:
            return
        try:
            acted = await self._on_dead(peer)
        except Exception as exc:  # e.g. etcd unreachable: the next evidence tries again
            log.warning("acting on broker %d's death failed (%s); its session runs out "
                        "meanwhile", peer.node_id, exc)
            return
        if acted:
            _remember(self._acted, key)


def _remember(keys: dict[tuple[int, bytes], None], key: tuple[int, bytes]) -> None:
    keys[key] = None
    while len(keys) > KEPT:
        del keys[next(iter(keys))]


async def refuses(host: str, port: int, connect: Connect | None = None) -> bool:
    """Whether connecting to ``host:port`` is refused: the evidence that no process listens
    there any more. A connect accepted (even by a paused process's kernel), timing out or
    failing otherwise is no such evidence."""
    try:
        _, writer = await asyncio.wait_for((connect or _open)(host, port), CONNECT_TIMEOUT_S)
    except ConnectionRefusedError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNREFUSED
    except (TimeoutError, ValueError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return False


async def _open(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Each address ``host`` resolves to, in turn; refused when every one refused.

    ``asyncio.open_connection`` tries them too, but when they all fail with different
    messages it raises one ``OSError`` without an errno: a dead peer advertised as
    ``localhost`` on a dual-stack host (``::1`` and ``127.0.0.1`` both refusing) would never
    look refused, and its death would always wait out the session."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    failure: OSError | None = None
    for *_, address in infos:
        try:
            return await asyncio.open_connection(str(address[0]), port)
        except OSError as exc:
            if exc.errno != errno.ECONNREFUSED and failure is None:
                failure = exc
    if failure is not None or not infos:
        raise failure or OSError(f"{host} resolves to no address")
    raise ConnectionRefusedError(errno.ECONNREFUSED, f"every address of {host}:{port} refused")
