"""The controller role's periodic leadership work, in virtual time over the in-memory fenced
log: the auto leader rebalance moves leadership back to the preferred replica once per
``leader.imbalance.check.interval.seconds``, and a fenced broker's partitions get leaders from
their ISR as its registration lapses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from brook.env import Rng
from brook.metadata.controller.cluster_role import ControllerRole, Registration
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import CreatedTopic, TopicSpec
from brook.metadata.follower import MetadataFollower
from brook.metadata.loader import MetadataLoader
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from brook.raft.memory_log import MemoryControllerElection, MemoryMetadataLog, MemoryMetadataStore
from brook.testing.clock import VirtualClock
from brook.testing.vtime import run


class QueuedRegistrations:
    """Registrations a test feeds: ``(node id, payload)``, payload None when one lapses."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[int, bytes | None]] = asyncio.Queue()

    async def changes(self, assumed: Iterable[int] = ()) -> AsyncIterator[tuple[int, bytes | None]]:
        while True:
            yield await self.queue.get()


class Election(MemoryControllerElection):
    """The in-memory election with the wait the role's term watches."""

    async def wait_lost(self) -> None:
        while not self.lost():
            await self._store.clock.sleep(1.0)


def _parse(payload: bytes) -> Registration:
    node = int(payload)
    return bytes([node]) * 16, [BrokerEndpointSpec("PLAINTEXT", "h", 9000 + node, 0)], None


def test_auto_rebalance_and_fencing_under_the_controller_role() -> None:
    clock = VirtualClock()

    async def main() -> None:
        store = MemoryMetadataStore(clock)
        log = MemoryMetadataLog(store)
        loader = MetadataLoader(None)
        loader.load(records=[])
        follower = MetadataFollower(loader, log.follow)
        follower.start()
        controller = QuorumController(None, clock, Rng(7), 1, 3, loader=loader)
        registrations = QueuedRegistrations()
        role = ControllerRole(
            1, controller, follower, log, registrations,
            lambda: Election(store, 1, ttl_s=3600.0), _parse, clock,
            rebalance=(300.0, 10))
        task = asyncio.get_running_loop().create_task(role.run())
        try:
            assert not task.done()
            for b in (1, 2, 3):
                registrations.queue.put_nowait((b, str(b).encode()))
            while len(loader.image.cluster.brokers) < 3:
                await clock.sleep(0.1)
            [t] = await controller.create_topics([TopicSpec("t", -1, -1, {0: [1, 2, 3]})], False)
            assert isinstance(t, CreatedTopic)
            # Leadership moved away while every replica stayed in sync (as after a failover
            # and the returning replica's catch-up).
            await controller._commit_in_parts([PartitionChangeRecord(
                partition_id=0, topic_id=t.topic_id, leader=2)])
            started = clock.monotonic()

            def leader() -> int:
                return loader.image.topics.by_name["t"].partitions[0].leader

            await clock.sleep(250.0)
            assert leader() == 2
            for _ in range(100):
                if leader() == 1:
                    break
                await clock.sleep(1.0)
            assert leader() == 1
            assert 300.0 <= clock.monotonic() - started <= 303.0
            # Broker 1's registration lapses: fenced, its partition led from the ISR.
            registrations.queue.put_nowait((1, None))
            while not loader.image.cluster.brokers[1].fenced:
                await clock.sleep(0.1)
            p = loader.image.topics.by_name["t"].partitions[0]
            assert (p.leader, p.isr) == (2, (2, 3))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await follower.stop()

    run(main(), clock=clock)
