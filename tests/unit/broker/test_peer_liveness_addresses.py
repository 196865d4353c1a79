"""A peer's advertised host may resolve to several addresses (``localhost`` on a dual-stack
host is ``::1`` and ``127.0.0.1``). Its death must look like a refusal all the same: every
address refusing is a refusal, one address accepting is a live peer.

The sockets are real loopback sockets on both addresses; only the name's resolution is given
to the event loop, since this machine resolves no name to both."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from brook.broker.peer_liveness import Peer, PeerLiveness, refuses
from brook.env import SYSTEM_CLOCK

NAME = "dual-stack.invalid"


def _resolve_both(loop: asyncio.AbstractEventLoop) -> None:
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, **kwargs: Any) -> Any:
        if host != NAME:
            return await real(host, port, **kwargs)
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]


_WRITERS: set[asyncio.StreamWriter] = set()


async def _listen_both() -> tuple[list[asyncio.Server], int]:
    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _WRITERS.add(writer)
        await reader.read()
        writer.close()

    v4 = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = int(v4.sockets[0].getsockname()[1])
    v6 = await asyncio.start_server(hold, "::1", port)
    return [v4, v6], port


def test_a_dead_peer_whose_name_resolves_to_two_addresses_is_judged_dead() -> None:
    async def main() -> None:
        _resolve_both(asyncio.get_running_loop())
        servers, port = await _listen_both()
        assert not await refuses(NAME, port)
        dead: list[Peer] = []
        judged = asyncio.Event()

        async def on_dead(peer: Peer) -> bool:
            dead.append(peer)
            judged.set()
            return True

        peer = Peer(2, b"\x02" * 16, NAME, port)
        task = asyncio.create_task(PeerLiveness(lambda: {2: peer}, on_dead, SYSTEM_CLOCK).run())
        try:
            await asyncio.sleep(0.5)
            assert dead == []
            for server in servers:  # what the kernel does to a killed process's sockets
                server.close()
            for writer in _WRITERS:
                writer.transport.abort()
            await asyncio.wait_for(judged.wait(), 10)
            assert dead == [peer]
            assert await refuses(NAME, port)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())


def test_one_address_accepting_is_a_live_peer() -> None:
    async def main() -> None:
        _resolve_both(asyncio.get_running_loop())
        servers, port = await _listen_both()
        servers[1].close()  # ::1 refuses, 127.0.0.1 accepts
        await servers[1].wait_closed()
        assert not await refuses(NAME, port)
        servers[0].close()
        await servers[0].wait_closed()
        assert await refuses(NAME, port)

    asyncio.run(main())


def test_a_peer_that_cannot_be_reached_at_all_is_not_hammered() -> None:
    """A connect that fails at once without a refusal (its name no longer resolves, as a dead
    pod's in Kubernetes; no route to it) is no evidence, and is tried again after a pause, not
    in a loop that holds the event loop and the resolver."""
    from brook.broker import peer_liveness

    async def main() -> None:
        attempts: dict[str, int] = {}

        async def counted(host: str, port: int) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]:
            attempts[host] = attempts.get(host, 0) + 1
            return await peer_liveness._open(host, port)

        peers = {2: Peer(2, b"\x02" * 16, "255.255.255.255", 9092),
                 3: Peer(3, b"\x03" * 16, "no-such-broker.invalid", 9092)}
        judged: list[Peer] = []

        async def on_dead(peer: Peer) -> bool:
            judged.append(peer)
            return True

        task = asyncio.create_task(
            PeerLiveness(lambda: peers, on_dead, SYSTEM_CLOCK, connect=counted).run())
        await asyncio.sleep(2.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert judged == []
        assert attempts and all(n <= 5 for n in attempts.values()), attempts

    asyncio.run(main())


def test_a_peer_advertising_a_host_no_resolver_accepts_is_watched_without_errors() -> None:
    """A registration's host with a label longer than DNS allows makes the resolver raise
    ``UnicodeError``, not ``OSError``: that is a peer that cannot be reached, tried again after
    a pause, not a watcher that dies and is started again at every poll."""
    from brook.broker import peer_liveness

    async def main() -> None:
        attempts = 0

        async def counted(host: str, port: int) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]:
            nonlocal attempts
            attempts += 1
            return await peer_liveness._open(host, port)

        peer = Peer(2, b"\x02" * 16, "a" * 64 + ".example", 9092)

        async def on_dead(_: Peer) -> bool:
            return True

        liveness = PeerLiveness(lambda: {2: peer}, on_dead, SYSTEM_CLOCK, connect=counted)
        task = asyncio.create_task(liveness.run())
        await asyncio.sleep(1.6)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert 1 <= attempts <= 2, attempts  # once, then once more after RETRY_S
        assert not await refuses(peer.host, peer.port)

    asyncio.run(main())
