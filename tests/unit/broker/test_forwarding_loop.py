"""A request another broker forwarded is decided here or refused with NOT_CONTROLLER, never
forwarded again: two brokers whose views of the controller are stale and crossed would
otherwise pass it back and forth."""

from __future__ import annotations

import asyncio

from brook.broker.context import FORWARDED
from brook.broker.controller_forwarding import ForwardingControllerChannel
from brook.metadata.controller.replication_control import ControllerError, TopicSpec
from brook.protocol.errors import ErrorCode
from tests.unit.metadata.test_cluster_controller import active_controller


def test_a_forwarded_request_is_not_forwarded_again() -> None:
    async def main() -> None:
        accepted: list[int] = []

        def on_connect(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.append(1)
            w.close()

        peer = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = peer.sockets[0].getsockname()[1]
        c, follower, _ = await active_controller(ports={1: port})
        c.deactivate()  # this broker (2) believes broker 1 holds the term
        channel = ForwardingControllerChannel(c, 2, lambda: 1, lambda: c.loader.image, "PLAINTEXT")

        async def as_forwarded() -> list[object]:
            FORWARDED.set(True)
            return list(await channel.create_topics([TopicSpec("t", 1, 1)], False))

        try:
            [result] = await asyncio.wait_for(asyncio.get_running_loop().create_task(as_forwarded()), 10)
            assert isinstance(result, ControllerError) and result.code == ErrorCode.NOT_CONTROLLER
            assert accepted == []
        finally:
            peer.close()
            await follower.stop()
    asyncio.run(main())
