"""Topics a Metadata request auto-creates: created in the background, never waited on long.

A client that names an unknown topic (with auto-creation allowed) retries its Metadata request
until the topic has a leader, so nothing obliges the broker to hold the request while the
controller works. Holding it is harmful in a cluster: while no controller is known, or while
the known one has died and its lease has not lapsed, forwarding the creation waits out the
change (up to 15 s), and a request waiting that long times out at the client and blocks the
connection behind it. So, as Kafka's ``AutoTopicCreationManager`` does, the creation is
started and the request answered: at once (LEADER_NOT_AVAILABLE) when no controller is known
or the channel is waiting out a change, otherwise after a short wait — long enough that a
healthy controller's answer is seen in this response, short enough that a controller that
stopped answering does not hold the client.

A creation in flight is shared by every request naming the topic, so clients retrying during a
controller change do not stack up creations; how many may be in flight at once is bounded, so
requests naming ever new topics cannot pile up tasks either.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

from brook.broker.controller_channel import ControllerChannel
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec
from brook.protocol.errors import ErrorCode

__all__ = ["AutoTopicCreation"]

log = logging.getLogger(__name__)

WAIT_S = 5.0
"""How long a request waits for a creation while a controller is known and not changing
(None: until it is done, for a single node, whose controller never changes)."""
_POLL_S = 0.1
MAX_IN_FLIGHT = 1000
"""Topic creations in flight at once; past it a request's new topics are answered
LEADER_NOT_AVAILABLE without being started (a later retry starts them)."""

Outcome = CreatedTopic | ControllerError | None
"""What became of one topic's creation; None while it is still in flight."""


class AutoTopicCreation:
    """One per broker; ``create`` from request handlers on the event loop."""

    def __init__(self, wait_s: float | None = WAIT_S, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.wait_s = wait_s
        self.max_in_flight = max_in_flight
        self._in_flight: dict[str, asyncio.Task[dict[str, CreatedTopic | ControllerError]]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def create(self, controller: ControllerChannel, names: Sequence[str]) -> dict[str, Outcome]:
        """Start creating ``names`` (those not already being created) with the broker
        defaults; wait for them only while a controller is known, and at most ``wait_s``."""
        loop = asyncio.get_running_loop()
        fresh = [n for n in dict.fromkeys(names) if n not in self._in_flight]
        fresh = fresh[:max(self.max_in_flight - len(self._in_flight), 0)]
        if fresh:
            task = loop.create_task(self._run(controller, fresh))
            for name in fresh:
                self._in_flight[name] = task
            task.add_done_callback(functools.partial(self._done, fresh))
        mine = {n: self._in_flight[n] for n in names if n in self._in_flight}
        pending = set(mine.values())
        deadline = None if self.wait_s is None else loop.time() + self.wait_s
        # Waiting never cancels: a creation that outlives the wait goes on in the background.
        while pending and controller.active_controller_id >= 0 and not controller.changing():
            step = _POLL_S if deadline is None else min(_POLL_S, deadline - loop.time())
            if step <= 0:
                break
            _, pending = await asyncio.wait(pending, timeout=step)
        return {n: t.result().get(n) if (t := mine.get(n)) is not None and t.done() else None
                for n in names}

    def _done(self, names: list[str], _: asyncio.Task[Any]) -> None:
        for name in names:
            self._in_flight.pop(name, None)

    async def _run(self, controller: ControllerChannel,
                   names: list[str]) -> dict[str, CreatedTopic | ControllerError]:
        try:
            results = await controller.create_topics([TopicSpec(n) for n in names],
                                                     validate_only=False)
        except ControllerError as exc:
            results = [exc for _ in names]
        except Exception as exc:  # a background task must not die with an unseen error
            log.warning("auto-creating %d topics failed: %s", len(names), exc)
            failed = ControllerError(ErrorCode.UNKNOWN_SERVER_ERROR, str(exc))
            results = [failed for _ in names]
        return dict(zip(names, results, strict=False))
