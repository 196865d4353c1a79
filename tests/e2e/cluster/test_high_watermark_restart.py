"""A cluster restarted after kill -9 does not serve as committed what the ISR never copied.

Three brokers on a real etcd. The followers of a partition are frozen (SIGSTOP: still in the
ISR, not fetching), the leader takes records with acks=1 that only it holds (its
``replication-offset-checkpoint`` still says 10), and then every broker dies with -9 and all
restart. Whoever leads while they come back — the old leader starts from its checkpointed high
watermark, and a new incarnation of a broker is fenced before it registers, so leadership may
move — ListOffsets latest never shows the unreplicated tail, and at the end every replica
agrees on the ten committed records."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.storage.checkpoint import OffsetCheckpointFile
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-hw-checkpoint"
TOPIC = "hw-restart"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[dict[int, BrokerProcess]]:
    brokers: dict[int, BrokerProcess] = {}
    try:
        for node_id in (1, 2, 3):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                # Long enough for the frozen followers to stay registered (and, with the lag
                # time, in the ISR) while the leader takes the unreplicated records; short
                # enough for the restarted brokers to replace their old sessions.
                "broker.session.timeout.ms": "10000",
                "replica.lag.time.max.ms": "180000",
                "replica.fetch.backoff.ms": "200",
                "replica.high.watermark.checkpoint.interval.ms": "100",
            })
            b.start()
            brokers[node_id] = b
        yield brokers
    finally:
        for b in brokers.values():
            if b.alive():
                os.kill(b.pid, signal.SIGCONT)
            b.stop()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.2)


def _partition(bootstrap: str) -> Any:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    return admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions[0]


def _produce(bootstrap: str, count: int, tag: str, acks: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                         "message.timeout.ms": 30000})
    for i in range(count):
        producer.produce(TOPIC, value=f"{tag}-{i}".encode(), partition=0)
    assert producer.flush(40) == 0


def _consume_all(bootstrap: str, seconds: float) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw-check",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        values: list[bytes] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
        return values
    finally:
        consumer.close()


def _high_watermark(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw-offsets"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), timeout=10,
                                                 cached=False)
        return int(high)
    finally:
        consumer.close()


def test_a_restarted_leader_serves_only_what_the_isr_held(
    cluster: dict[int, BrokerProcess],
) -> None:
    every = ",".join(b.bootstrap for b in cluster.values())
    admin = AdminClient({"bootstrap.servers": every, "socket.timeout.ms": 5000})
    topic = NewTopic(TOPIC, num_partitions=1, replica_assignment=[[1, 2, 3]])
    admin.create_topics([topic], operation_timeout=10)[TOPIC].result(20)
    _eventually(lambda: _partition(every).leader == 1 and len(_partition(every).isrs) == 3)
    _produce(every, 10, "committed", "all")
    leader = cluster[1]
    followers = [cluster[2], cluster[3]]
    _eventually(lambda: _high_watermark(leader.bootstrap) == 10)

    for b in followers:
        os.kill(b.pid, signal.SIGSTOP)
    _produce(leader.bootstrap, 5, "unreplicated", "1")
    assert _high_watermark(leader.bootstrap) == 10  # the ISR has not copied them
    checkpoint = leader.data_dir / "replication-offset-checkpoint"
    _eventually(lambda: OffsetCheckpointFile(checkpoint).read().get((TOPIC, 0)) == 10)
    leader.kill()
    for b in followers:
        b.kill()

    seen: list[int] = []

    def committed_everywhere() -> bool:
        hws = []
        for b in cluster.values():
            try:
                hw = _high_watermark(b.bootstrap)
            except Exception:  # no leader yet: the cluster is still coming back
                return False
            seen.append(hw)  # kept even if a later broker of this round fails to answer
            hws.append(hw)
        part = _partition(every)
        return part.leader >= 0 and len(part.isrs) == 3 and set(hws) == {10}

    for b in cluster.values():
        b.start()
    _eventually(committed_everywhere, timeout=90)
    assert max(seen) == 10, f"a broker served the unreplicated tail as committed: {seen}"
    values = _consume_all(every, 3.0)
    assert values == [f"committed-{i}".encode() for i in range(10)]
