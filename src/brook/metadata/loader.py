"""The metadata loader: replays the committed metadata log into images and publishes them.

Every broker runs one, whether or not it hosts the controller: the publishers (the broker's
metadata cache, the replica manager, the group coordinator) register here, never on the
controller. At start-up ``load`` replays the whole log; while serving, the in-process
controller hands each committed operation's delta to ``publish`` (a broker whose controller is
elsewhere will feed the records it reads from the quorum through the same method).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable

from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage
from brook.metadata.serde import decode_record
from brook.raft.client import RaftClient

Publisher = Callable[[MetadataDelta, MetadataImage], Awaitable[None] | None]


class MetadataLoader:
    """Lifecycle: ``load`` once, then ``publish`` per committed delta, in log order.
    Event-loop thread only."""

    def __init__(self, raft: RaftClient | None) -> None:
        self.raft = raft
        self.image: MetadataImage = EMPTY_IMAGE
        self.publishers: list[Publisher] = []

    def load(
        self, before_publish: Callable[[MetadataImage], None] | None = None,
        records: Iterable[tuple[int, bytes]] | None = None,
    ) -> MetadataImage:
        """Replay the committed log into the first image. ``before_publish`` sees the image
        before any publisher does (the broker opens its logs there, with each topic's
        configuration, before anything reads or cleans them). ``records`` replaces the local
        log's (a cluster broker reads them from the shared log first)."""
        delta = MetadataDelta(self.image)
        if records is None:
            if self.raft is None:
                raise RuntimeError("no metadata log to load from")
            records = self.raft.read_committed()
        for offset, value in records:
            record = decode_record(value)
            if record is not None:
                delta.replay(record, offset)
        image = delta.apply()
        if before_publish is not None:
            before_publish(image)
        self.image = image
        for publisher in self.publishers:
            result = publisher(delta, image)
            if inspect.isawaitable(result):
                raise RuntimeError("an asynchronous publisher during start-up replay")
        return image

    async def publish(self, delta: MetadataDelta, image: MetadataImage) -> None:
        """Publication while serving: returns once every publisher has applied ``delta`` (so
        a created topic's partitions are ready when CreateTopics answers)."""
        self.image = image
        for publisher in self.publishers:
            result = publisher(delta, image)
            if inspect.isawaitable(result):
                await result
