"""The leader's half of ISR replication against a real three-broker cluster over etcd, with
the test playing the follower on the wire: Fetch requests naming the follower's broker id in
``replica_state`` (v15), as a follower's fetcher sends them.

The real follower broker is paused (SIGSTOP) while the test speaks for it, so its own
fetcher, where there is one, does not fetch in its place; its registration stays live. The leader is not the active controller,
so its AlterPartition requests are forwarded to the broker that is.

It shows: acks=all is not answered until the follower fetched past the record, and
consumers see the record only then (the high watermark); the follower that stops fetching
leaves the ISR after ``replica.lag.time.max.ms`` (an AlterPartition to the controller), after
which acks=all with min.insync.replicas=2 is refused NOT_ENOUGH_REPLICAS; the follower that
catches up again rejoins, and acks=all waits for it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.inter_broker_client import InterBrokerClient
from brook.cli.cluster import active_controller
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.metadata import MetadataRequest, MetadataResponse
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.record import build_batch
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-replication"
LAG_MS = 1500
TOPIC = "replicated"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[dict[int, BrokerProcess]]:
    brokers: dict[int, BrokerProcess] = {}
    for node_id in (1, 2, 3):
        b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
            "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
            "broker.session.timeout.ms": "60000", "replica.lag.time.max.ms": str(LAG_MS),
        })
        b.start()
        brokers[node_id] = b
    yield brokers
    # Killed, not stopped: the test is over, and a SIGTERM would have the leader wait out its
    # controlled shutdown (retries times backoff) for a follower the test had paused.
    for b in brokers.values():
        b.kill()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.1)


def _isr(admin: AdminClient) -> list[int] | None:
    md = admin.list_topics(TOPIC, timeout=10)
    t = md.topics.get(TOPIC)
    if t is None or t.error is not None or 0 not in t.partitions:
        return None
    return sorted(t.partitions[0].isrs)


async def _topic_id(broker: BrokerProcess) -> bytes:
    client = InterBrokerClient("127.0.0.1", broker.port, "test-metadata")
    try:
        response = await client.send(MetadataRequest(topics=[
            MetadataRequest.MetadataRequestTopic(name=TOPIC)]), 12, MetadataResponse)
    finally:
        client.close()
    return response.topics[0].topic_id


class _Wire:
    """Raw requests to the leader: one connection produces, one fetches as the follower."""

    def __init__(self, leader: BrokerProcess, follower_id: int, topic_id: bytes) -> None:
        self.producer = InterBrokerClient("127.0.0.1", leader.port, "test-producer")
        self.fetcher = InterBrokerClient("127.0.0.1", leader.port, "test-follower")
        self.consumer = InterBrokerClient("127.0.0.1", leader.port, "test-consumer")
        self.follower_id = follower_id
        self.topic_id = topic_id

    async def produce(self, acks: int, timeout_ms: int = 30_000) -> tuple[int, int]:
        batch = build_batch([(b"k", b"v", [], 1_000)])
        request = ProduceRequest(acks=acks, timeout_ms=timeout_ms, topic_data=[
            ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                ProduceRequest.PartitionProduceData(index=0, records=bytes(batch))])])
        response = await self.producer.send(request, 9, ProduceResponse)
        p = response.responses[0].partition_responses[0]
        return p.error_code, p.base_offset

    async def fetch(self, offset: int, replica: int | None = None,
                    max_wait_ms: int = 0) -> FetchResponse.PartitionData:
        replica_id = self.follower_id if replica is None else replica
        request = FetchRequest(
            replica_state=FetchRequest.ReplicaState(replica_id=replica_id, replica_epoch=-1),
            max_wait_ms=max_wait_ms, min_bytes=1, topics=[FetchRequest.FetchTopic(
                topic_id=self.topic_id, partitions=[FetchRequest.FetchPartition(
                    partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)])])
        client = self.consumer if replica_id < 0 else self.fetcher
        response = await client.send(request, 15, FetchResponse)
        return response.responses[0].partitions[0]

    def close(self) -> None:
        for c in (self.producer, self.fetcher, self.consumer):
            c.close()


def test_acks_all_high_watermark_and_isr_follow_the_followers_fetches(
    cluster: dict[int, BrokerProcess],
) -> None:
    any_broker = cluster[1]
    controller = _eventually(lambda: (lambda c: c if c in cluster else None)(
        active_controller("127.0.0.1", any_broker.port)))
    # The follower is paused, so it must not be the controller; the leader is another broker.
    leader_id, follower_id = (b for b in sorted(cluster) if b != controller)
    leader, follower = cluster[leader_id], cluster[follower_id]
    admin = AdminClient({"bootstrap.servers": leader.bootstrap, "socket.timeout.ms": 5000})
    _eventually(lambda: len(admin.list_topics(timeout=10).brokers) == 3)
    futures = admin.create_topics([NewTopic(
        TOPIC, num_partitions=1, replica_assignment=[[leader_id, follower_id]],
        config={"min.insync.replicas": "2"})], operation_timeout=10)
    futures[TOPIC].result(timeout=20)
    _eventually(lambda: _isr(admin) == sorted([leader_id, follower_id]))
    topic_id = asyncio.run(_topic_id(leader))
    wire = _Wire(leader, follower_id, topic_id)

    async def led() -> bool:
        # The leader's metadata can name the partition a moment before its log is open.
        error = (await wire.fetch(0, replica=-1)).error_code
        wire.close()
        return error == ErrorCode.NONE

    _eventually(lambda: asyncio.run(led()))
    os.kill(follower.pid, signal.SIGSTOP)

    async def replicate() -> None:
        # A broker that is not a replica may not fetch as one.
        assert (await wire.fetch(0, replica=7)).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        acked = asyncio.ensure_future(wire.produce(-1))
        await asyncio.sleep(0.5)
        assert not acked.done(), "acks=all answered before the follower fetched the record"
        consumer_view = await wire.fetch(0, replica=-1)
        assert consumer_view.high_watermark == 0 and not consumer_view.records
        first = await wire.fetch(0)  # the follower copies the record: its log end is still 0
        assert first.error_code == ErrorCode.NONE and first.records
        await asyncio.sleep(0.3)
        assert not acked.done()
        assert (await wire.fetch(0, replica=-1)).high_watermark == 0
        await wire.fetch(1)  # the follower reports it has offset 0: committed
        assert await asyncio.wait_for(acked, 10) == (ErrorCode.NONE, 0)
        consumer_view = await wire.fetch(0, replica=-1)
        assert consumer_view.high_watermark == 1 and consumer_view.records
        assert await wire.produce(1) == (ErrorCode.NONE, 1)  # acks=1: the leader alone
        wire.close()  # each phase runs its own event loop

    asyncio.run(replicate())
    # The follower stops fetching: after the lag time the leader shrinks the ISR.
    _eventually(lambda: _isr(admin) == [leader_id], timeout=LAG_MS / 1000 * 4 + 10)

    async def refused_then_rejoined() -> None:
        code, _ = await wire.produce(-1)
        assert code == ErrorCode.NOT_ENOUGH_REPLICAS
        await wire.fetch(2)  # caught up with the high watermark: proposed for the ISR
        wire.close()

    asyncio.run(refused_then_rejoined())
    _eventually(lambda: _isr(admin) == sorted([leader_id, follower_id]))

    async def waits_again() -> None:
        acked = asyncio.ensure_future(wire.produce(-1))
        await asyncio.sleep(0.3)
        assert not acked.done()
        # A long-polling follower is woken by the append, not by the high watermark.
        polled = await wire.fetch(2, max_wait_ms=5_000)
        assert polled.records
        await wire.fetch(3)
        assert await asyncio.wait_for(acked, 10) == (ErrorCode.NONE, 2)
        wire.close()

    asyncio.run(waits_again())
