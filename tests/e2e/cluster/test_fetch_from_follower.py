"""Fetching from the closest replica (KIP-392) on a real cluster: etcd and three brokers in two
racks with ``replica.selector.class=...RackAwareReplicaSelector``, and a confluent-kafka
consumer whose ``client.rack`` is a rack where a follower lives but not the leader.

Which broker served the records is observed from outside the brokers: every broker's client
listener is advertised at a TCP proxy of its own (the brokers replicate over a second listener,
``inter.broker.listener.name=REPLICATION``, that no proxy sees), and the proxies count the bytes
each broker sent to clients. The consumer reads every record; the bytes come from the follower
in its rack, and the leader sends it little more than metadata and the redirection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.brokers import BrokerProcess, free_port, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.timeout(240)  # several brokers started and stopped on a shared machine

CLUSTER_ID = "brook-e2e-closest-replica"
RACKS = {1: "az1", 2: "az2", 3: "az2"}
SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
RECORDS = 200
VALUE = 2000


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


Cluster = dict[int, tuple[BrokerProcess, TcpProxy]]


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[Cluster]:
    cluster: Cluster = {}
    try:
        for node_id, rack in RACKS.items():
            replication = free_port()
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "broker.rack": rack, "broker.session.timeout.ms": "3000",
                "replica.selector.class": SELECTOR,
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
                "inter.broker.listener.name": "REPLICATION",
            })
            proxy = TcpProxy(b.port).start()
            b.listeners = f"PLAINTEXT://127.0.0.1:{{port}},REPLICATION://127.0.0.1:{replication}"
            b.advertised_listeners = (f"PLAINTEXT://{proxy.address},"
                                      f"REPLICATION://127.0.0.1:{replication}")
            cluster[node_id] = (b, proxy)
            b.start()
        yield cluster
    finally:
        for b, proxy in cluster.values():
            b.stop()
            proxy.stop()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(0.2)


def _bootstrap(cluster: Cluster) -> str:
    return ",".join(proxy.address for _, proxy in cluster.values())


@dataclass
class Placed:
    """A replicated topic with records, and the rack a consumer should name to read it
    from a follower (not the leader's rack)."""

    topic: str
    leader: int
    rack: str
    followers_in_rack: set[int]
    payload: int
    sent_before: dict[int, int]


def place(cluster: Cluster, topic: str) -> Placed:
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    admin.create_topics([NewTopic(topic, 1, 3)], operation_timeout=10)[topic].result(20)

    def settled() -> Any:
        part = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
        return part if part.leader in cluster and len(part.isrs) == 3 else None
    leader = _eventually(settled).leader
    rack = next(r for r in RACKS.values() if RACKS[leader] != r)
    producer = Producer({"bootstrap.servers": _bootstrap(cluster), "acks": "all",
                         "linger.ms": 5})
    for i in range(RECORDS):
        producer.produce(topic, key=b"%d" % i, value=value(i))
    assert producer.flush(40) == 0
    return Placed(topic, leader, rack, {n for n, r in RACKS.items() if r == rack},
                  RECORDS * VALUE, {n: proxy.bytes_down for n, (_, proxy) in cluster.items()})


def value(i: int) -> bytes:
    return bytes([65 + i % 26]) * VALUE


def check_served_by_follower(cluster: Cluster, placed: Placed) -> None:
    """Every record's bytes left a follower in the consumer's rack; the leader sent little
    more than metadata and the redirection."""
    sent = {n: proxy.bytes_down - placed.sent_before[n] for n, (_, proxy) in cluster.items()}
    print(f"leader {placed.leader}, client rack {placed.rack}: bytes each broker sent the "
          f"consumer {sent} for {placed.payload} bytes of values")
    assert sum(sent[n] for n in placed.followers_in_rack) >= placed.payload, sent
    assert sent[placed.leader] < placed.payload // 10, sent


def test_a_consumer_reads_every_record_from_the_follower_in_its_rack(cluster: Cluster) -> None:
    placed = place(cluster, "closest")
    topic = placed.topic
    stats: list[dict[str, Any]] = []
    consumer = Consumer({
        "bootstrap.servers": _bootstrap(cluster), "group.id": "closest-reader",
        "client.rack": placed.rack, "enable.auto.commit": False,
        "statistics.interval.ms": 500, "stats_cb": lambda raw: stats.append(json.loads(raw)),
    })
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[int] = []
        deadline = time.monotonic() + 90
        while len(seen) < RECORDS and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                assert msg.value() == value(len(seen))
                seen.append(msg.offset())
        assert seen == list(range(RECORDS))

        def fetched_from() -> set[int]:
            return {p["broker"] for s in stats
                    for p in s["topics"].get(topic, {}).get("partitions", {}).values()
                    if p.get("partition") == 0}
        deadline = time.monotonic() + 10  # statistics come every 500 ms, served by poll
        while not fetched_from() & placed.followers_in_rack and time.monotonic() < deadline:
            consumer.poll(0.5)
    finally:
        consumer.close()

    check_served_by_follower(cluster, placed)
    # The client says the same: it fetched the partition from a broker in its rack.
    assert fetched_from() & placed.followers_in_rack, (fetched_from(), placed.followers_in_rack)
