"""Background auto-creation against a real forwarding channel that knows no controller: the
answer does not wait, retries share a creation, and the creations in flight are bounded."""

from __future__ import annotations

import asyncio

from brook.broker.auto_topic_creation import AutoTopicCreation
from brook.broker.controller_forwarding import ForwardingControllerChannel
from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.image import EMPTY_IMAGE
from brook.metadata.loader import MetadataLoader


def _leaderless_channel() -> ForwardingControllerChannel:
    controller = QuorumController(None, SYSTEM_CLOCK, Rng(1), 1, 1, loader=MetadataLoader(None))
    return ForwardingControllerChannel(controller, 1, lambda: -1, lambda: EMPTY_IMAGE, "PLAINTEXT")


def test_creations_in_flight_are_shared_and_bounded() -> None:
    async def main() -> None:
        channel = _leaderless_channel()
        creation = AutoTopicCreation(wait_s=30.0, max_in_flight=3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await creation.create(channel, ["a", "b"])
        again = await creation.create(channel, ["b", "c", "d", "e"])
        assert loop.time() - started < 1.0
        assert first == {"a": None, "b": None}
        assert again == {"b": None, "c": None, "d": None, "e": None}
        assert creation.in_flight == 3  # a, b, c: d and e are left for a later retry
    asyncio.run(main())
