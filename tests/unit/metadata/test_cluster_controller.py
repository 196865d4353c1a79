"""The controller's cluster term over the in-memory fenced log (the same contract as etcd's):
what a request too big for one fenced append gets, and that the term survives it."""

from __future__ import annotations

import asyncio

import pytest

from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller import quorum_controller
from brook.metadata.controller.cluster_commit import ClusterCommit
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec
from brook.metadata.follower import MetadataFollower
from brook.metadata.loader import MetadataLoader
from brook.protocol.errors import ErrorCode
from brook.raft.memory_log import MemoryControllerElection, MemoryMetadataLog, MemoryMetadataStore
from brook.testing.clock import VirtualClock


async def active_controller(ports: dict[int, int] | None = None,
                            ) -> tuple[QuorumController, MetadataFollower, ClusterCommit]:
    """Broker 1's controller term over an in-memory log, brokers 1-3 registered (listening
    on ``ports`` where given)."""
    store = MemoryMetadataStore(VirtualClock())
    log = MemoryMetadataLog(store)
    loader = MetadataLoader(None)
    loader.load(records=[])
    follower = MetadataFollower(loader, log.follow)
    follower.start()
    election = MemoryControllerElection(store, 1, ttl_s=3600.0)
    leadership = await election.campaign()
    c = QuorumController(None, SYSTEM_CLOCK, Rng(7), 1, 3, loader=loader)
    commit = ClusterCommit(log, follower, leadership, election.lost)
    c.activate_cluster(commit)
    for b in (1, 2, 3):
        port = (ports or {}).get(b, 9000 + b)
        await c.register_broker(b, bytes([b]) * 16, [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", port, 0)],
                                rack=f"az-{b}")
    return c, follower, commit


def test_a_create_topics_too_big_for_one_append_is_refused_and_the_term_goes_on() -> None:
    async def main() -> None:
        c, follower, commit = await active_controller()
        try:
            # 4,000 topics with 240-character names: under Kafka's 10,000 records per request,
            # but ~1.4 MB of records, more than one fenced append (etcd request) holds.
            specs = [TopicSpec(f"{i:05d}" + "t" * 235, 1, 3) for i in range(4000)]
            results = await c.create_topics(specs, validate_only=False)
            assert all(isinstance(r, ControllerError) and r.code == ErrorCode.POLICY_VIOLATION
                       for r in results), results[0]
            assert len(c.image.topics.by_name) == 0
            assert commit.active()
            [small] = await c.create_topics([TopicSpec("small", 3, 3)], validate_only=False)
            assert isinstance(small, CreatedTopic)
        finally:
            await follower.stop()
    asyncio.run(main())


def test_a_broker_leading_more_partitions_than_one_append_holds_is_fenced_and_unfenced(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One fenced append is bounded at a few KiB here so that a few hundred partitions stand
    # for the tens of thousands that exceed etcd's request limit in production.
    monkeypatch.setattr(quorum_controller, "MAX_FENCED_BATCH_BYTES", 4096)

    async def main() -> None:
        c, follower, commit = await active_controller()
        try:
            for i in range(4):
                [t] = await c.create_topics([TopicSpec(f"t{i}", -1, -1, {p: [1] for p in range(60)})],
                                            validate_only=False)
                assert isinstance(t, CreatedTopic), t
            await c.fence_broker(1)
            assert c.image.cluster.brokers[1].fenced
            assert all(p.leader == -1 for t in c.image.topics.by_id.values()
                       for p in t.partitions.values())
            await c.register_broker(1, bytes([9]) * 16,
                                    [BrokerEndpointSpec("PLAINTEXT", "h", 9001, 0)], rack="az-1")
            assert not c.image.cluster.brokers[1].fenced
            assert all(p.leader == 1 for t in c.image.topics.by_id.values()
                       for p in t.partitions.values())
            assert commit.active()
        finally:
            await follower.stop()
    asyncio.run(main())
