"""Telling a dead peer from a live one by its listener, over real loopback sockets: a peer
whose listener closes is judged dead within a fraction of a second, once per incarnation until
it is reachable again; a peer that accepts and closes at once, or is merely slow, never is."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from brook.broker.peer_liveness import CONNECT_TIMEOUT_S, Connect, Peer, PeerLiveness
from brook.env import SYSTEM_CLOCK

_OPEN: dict[asyncio.Server, set[asyncio.StreamWriter]] = {}


async def _listen(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                    Awaitable[None]] | None = None,
                  port: int = 0) -> asyncio.Server:
    writers: set[asyncio.StreamWriter] = set()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        await reader.read()  # until the prober goes away
        writer.close()

    server = await asyncio.start_server(handler or hold, "127.0.0.1", port, reuse_address=True)
    _OPEN[server] = writers
    return server


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


async def _closed(server: asyncio.Server) -> None:
    """What the kernel does to a killed process's sockets: the listener and every
    connection close."""
    server.close()
    for writer in _OPEN.pop(server, set()):
        writer.transport.abort()
    await server.wait_closed()


class _Judged:
    def __init__(self) -> None:
        self.dead: list[Peer] = []
        self.event = asyncio.Event()

    async def __call__(self, peer: Peer) -> bool:
        self.dead.append(peer)
        self.event.set()
        return True


async def _judged_within(peer: Peer, seconds: float,
                         connect: Connect | None = None) -> list[Peer]:
    """Watch ``peer`` alone for ``seconds``; the peers judged dead meanwhile."""
    judged = _Judged()
    liveness = PeerLiveness(lambda: {peer.node_id: peer}, judged, SYSTEM_CLOCK, connect)
    task = asyncio.create_task(liveness.run())
    try:
        await asyncio.sleep(seconds)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return judged.dead


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def test_a_peer_whose_listener_goes_away_is_judged_dead_once_until_it_is_back() -> None:
    async def main() -> None:
        server = await _listen()
        port = _port(server)
        peer = Peer(2, b"\x01" * 16, "127.0.0.1", port)
        judged = _Judged()
        liveness = PeerLiveness(lambda: {2: peer}, judged, SYSTEM_CLOCK)
        task = asyncio.create_task(liveness.run())
        try:
            await asyncio.sleep(0.5)
            assert judged.dead == []  # held open, alive
            loop = asyncio.get_running_loop()
            killed = loop.time()
            await _closed(server)
            await asyncio.wait_for(judged.event.wait(), 5)
            assert judged.dead == [peer]
            assert loop.time() - killed < 2.0
            await asyncio.sleep(1.5)  # still refused: acted on once, not again
            assert judged.dead == [peer]
            server = await _listen(port=port)  # the same incarnation reachable again
            assert await _until(lambda: bool(_OPEN[server]), 5)
            await _closed(server)
            assert await _until(lambda: len(judged.dead) == 2, 5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            server.close()
    asyncio.run(main())


def test_a_listener_that_accepts_and_closes_at_once_is_not_judged_dead() -> None:
    """A connection limit, a TLS handshake timeout or a proxy in front of a dead broker: an
    accepted connection that ends is no evidence, only a refused one is."""
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        server = await _listen(close_at_once)
        try:
            peer = Peer(3, b"\x02" * 16, "127.0.0.1", _port(server))
            assert await _judged_within(peer, 1.5) == []
        finally:
            await _closed(server)
    asyncio.run(main())


def test_a_peer_that_cannot_be_reached_in_time_is_not_judged_dead() -> None:
    """A connect that never completes (a host down, packets dropped) is left to the session:
    a listening socket whose accept queue is full stands in for one."""
    async def main() -> None:
        blocked = socket.socket()
        blocked.bind(("127.0.0.1", 0))
        blocked.listen(0)
        fillers = []
        port = blocked.getsockname()[1]
        for _ in range(8):  # fill the backlog: further SYNs are dropped, not refused
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        attempts: list[float] = []

        async def counted(host: str, port: int) -> tuple[asyncio.StreamReader,
                                                           asyncio.StreamWriter]:
            attempts.append(asyncio.get_running_loop().time())
            return await asyncio.open_connection(host, port)

        peer = Peer(4, b"\x03" * 16, "127.0.0.1", port)
        try:
            # Long enough for the first connect to time out and the next one to begin: the
            # timeout itself is watched, not only the wait before it.
            assert await _judged_within(peer, CONNECT_TIMEOUT_S + 1.5, counted) == []
            assert len(attempts) >= 2, attempts
            assert attempts[1] - attempts[0] >= CONNECT_TIMEOUT_S - 0.1, attempts
        finally:
            for s in fillers:
                s.close()
            blocked.close()
    asyncio.run(main())


def test_evidence_is_offered_again_until_the_owner_acts_and_never_once_unwatched() -> None:
    async def main() -> None:
        server = await _listen()
        port = _port(server)
        watched: dict[int, Peer] = {5: Peer(5, b"\x04" * 16, "127.0.0.1", port)}
        calls: list[int] = []

        async def failing(peer: Peer) -> bool:
            calls.append(peer.node_id)
            if len(calls) == 1:
                raise OSError("etcd unreachable")
            return len(calls) >= 3  # then: not this broker's role, until it is

        liveness = PeerLiveness(lambda: dict(watched), failing, SYSTEM_CLOCK)
        task = asyncio.create_task(liveness.run())
        try:
            await asyncio.sleep(0.4)
            await _closed(server)
            # The action failed, then the owner had nothing to do: each next evidence (a
            # second apart) is offered again, until the owner acts; then no more.
            assert await _until(lambda: len(calls) >= 3, 8), calls
            await asyncio.sleep(1.5)
            assert len(calls) == 3, calls
            watched.clear()  # fenced: no longer watched
            await asyncio.sleep(0.5)
            seen = len(calls)
            await asyncio.sleep(1.5)
            assert len(calls) == seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    asyncio.run(main())


def test_a_peer_still_starting_is_not_judged_dead_until_it_listened_once() -> None:
    """A broker registers before it opens its listeners: refusals before it ever listened are
    no evidence; once it listened, its listener going away is."""
    async def main() -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nothing listens there yet
        judged = _Judged()
        peer = Peer(6, b"\x05" * 16, "127.0.0.1", port)
        liveness = PeerLiveness(lambda: {6: peer}, judged, SYSTEM_CLOCK)
        task = asyncio.create_task(liveness.run())
        server: asyncio.Server | None = None
        try:
            await asyncio.sleep(1.5)
            assert judged.dead == []
            server = await _listen(port=port)
            assert await _until(lambda: bool(_OPEN[server]), 5)
            await _closed(server)
            await asyncio.wait_for(judged.event.wait(), 5)
            assert judged.dead == [peer]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if server is not None:
                server.close()
    asyncio.run(main())
