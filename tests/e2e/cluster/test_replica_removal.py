"""A broker drops the copies it no longer hosts, on three brokers sharing their metadata
through a real etcd.

A reassignment from [1, 2] to [2, 3] completes, broker 1 deletes its directory of the
partition and answers Produce and Fetch for it NOT_LEADER_OR_FOLLOWER (the cluster has the
partition; this broker does not host it), as Kafka does, while a consumer reads every record
from the new replicas. A broker that was down while its topic was deleted and re-created under
the same name starts with the new topic's records only, and serves none of the old ones once
it leads the new topic; a directory a crash left renamed for deletion goes at its start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.inter_broker_client import InterBrokerClient
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.record import build_batch
from brook.storage.log_loader import read_partition_metadata
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-replica-removal"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[dict[int, BrokerProcess]]:
    etcd: EtcdServer = etcd_fixture(tmp_path)
    brokers: dict[int, BrokerProcess] = {}
    try:
        for node_id in (1, 2, 3):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "broker.session.timeout.ms": "3000", "replica.fetch.backoff.ms": "200",
                "auto.leader.rebalance.enable": "false",
            })
            b.start()
            brokers[node_id] = b
        yield brokers
    finally:
        for b in brokers.values():
            b.kill()
        etcd.stop()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, KafkaException, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.2)


def _admin(*brokers: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                        "socket.timeout.ms": 5000})


def _state(b: BrokerProcess, topic: str) -> tuple[int, list[int], list[int]]:
    """(leader, replicas, sorted ISR) of partition 0 as broker ``b`` answers Metadata."""
    t = _admin(b).list_topics(topic, timeout=5).topics[topic]
    assert t.error is None, t.error
    p = t.partitions[0]
    return p.leader, list(p.replicas), sorted(p.isrs)


def _create(via: BrokerProcess, topic: str, replicas: list[int]) -> None:
    admin = _admin(via)  # kept referenced until the answer: a collected client drops it
    admin.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[replicas])],
                        operation_timeout=10)[topic].result(30)


def _produce(bootstrap: str, topic: str, values: list[str]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.timeout.ms": 30000})
    failures: list[Any] = []
    for value in values:
        producer.produce(topic, value.encode(), partition=0,
                         on_delivery=lambda err, _msg: err and failures.append(err))
    assert producer.flush(40) == 0
    assert not failures, failures


def _consume_all(bootstrap: str, topic: str, count: int) -> list[str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{topic}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[str] = []
    deadline = time.monotonic() + 40
    try:
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value().decode())
        # Nothing past what was produced arrives either.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                values.append(msg.value().decode())
    finally:
        consumer.close()
    return values


async def _answers(b: BrokerProcess, topic: str, topic_id: bytes) -> tuple[int, int]:
    """Broker ``b``'s error codes for a Produce and a consumer's Fetch of ``topic``-0."""
    client = InterBrokerClient("127.0.0.1", b.port, "replica-removal-test", 10.0)
    try:
        batch = build_batch([(None, b"late", (), 1_000)])
        produced = await client.send(ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[
            ProduceRequest.TopicProduceData(topic, [
                ProduceRequest.PartitionProduceData(0, memoryview(batch))])]), 9, ProduceResponse)
        fetched = await client.send(FetchRequest(
            replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
            topics=[FetchRequest.FetchTopic(topic=topic, topic_id=topic_id, partitions=[
                FetchRequest.FetchPartition(partition=0, fetch_offset=0,
                                            partition_max_bytes=1 << 20)])]), 12, FetchResponse)
    finally:
        client.close()
    return (produced.responses[0].partition_responses[0].error_code,
            fetched.responses[0].partitions[0].error_code)


def _dirs(b: BrokerProcess, topic: str) -> list[str]:
    return sorted(p.name for p in b.data_dir.iterdir() if p.name.startswith(f"{topic}-"))


def test_a_replica_moved_away_is_deleted_and_answers_not_leader(
    cluster: dict[int, BrokerProcess],
) -> None:
    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    b1, b2, b3 = cluster[1], cluster[2], cluster[3]
    _create(b2, "moving", [1, 2])
    _eventually(lambda: _state(b1, "moving") == (1, [1, 2], [1, 2]))
    before = [f"before-{i}" for i in range(50)]
    _produce(b1.bootstrap, "moving", before)
    assert _dirs(b1, "moving") == ["moving-0"]

    admin = KafkaAdminClient(bootstrap_servers=b2.bootstrap, request_timeout_ms=30000)
    try:
        tp = KTopicPartition("moving", 0)
        assert admin.alter_partition_reassignments({tp: [2, 3]}) == {tp: None}
        _eventually(lambda: admin.list_partition_reassignments() == {}, timeout=60)
    finally:
        admin.close()
    for b in cluster.values():
        _eventually(lambda b=b: _state(b, "moving") == (2, [2, 3], [2, 3]))
    # Broker 1's copy is renamed for deletion, then removed by its background task.
    _eventually(lambda: _dirs(b1, "moving") == [], timeout=30)
    assert _dirs(b3, "moving") == ["moving-0"]

    topic_id = read_partition_metadata(b2.data_dir / "moving-0")
    assert topic_id is not None
    produced, fetched = asyncio.run(_answers(b1, "moving", topic_id))
    assert produced == ErrorCode.NOT_LEADER_OR_FOLLOWER
    assert fetched == ErrorCode.NOT_LEADER_OR_FOLLOWER
    produced, fetched = asyncio.run(_answers(b1, "never-created", bytes(16)))
    assert produced == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    after = [f"after-{i}" for i in range(20)]
    _produce(b1.bootstrap, "moving", after)  # a client bootstrapped on broker 1 finds broker 2
    assert _consume_all(b1.bootstrap, "moving", 70) == before + after
    # And from the new follower once it leads: nothing was lost in the move.
    b2.stop()
    _eventually(lambda: _state(b3, "moving")[0] == 3, timeout=30)
    assert _consume_all(b3.bootstrap, "moving", 70) == before + after


def test_a_broker_down_while_its_topic_was_recreated_serves_only_the_new_records(
    cluster: dict[int, BrokerProcess],
) -> None:
    b1, b2, b3 = cluster[1], cluster[2], cluster[3]
    _create(b2, "phoenix", [1, 2])
    _eventually(lambda: _state(b2, "phoenix") == (1, [1, 2], [1, 2]))
    _produce(b1.bootstrap, "phoenix", [f"old-{i}" for i in range(30)])
    old_id = read_partition_metadata(b1.data_dir / "phoenix-0")

    b1.stop()
    _eventually(lambda: _state(b2, "phoenix")[0] == 2, timeout=30)
    admin = _admin(b2)
    admin.delete_topics(["phoenix"], operation_timeout=10)["phoenix"].result(30)
    _eventually(lambda: "phoenix" not in _admin(b2).list_topics(timeout=5).topics)
    # The same name, and broker 1 (fenced now) as the preferred leader again.
    _create(b2, "phoenix", [1, 2])
    _eventually(lambda: _state(b3, "phoenix") == (2, [1, 2], [2]))
    new = [f"new-{i}" for i in range(5)]
    _produce(f"{b2.bootstrap},{b3.bootstrap}", "phoenix", new)

    # A deletion a crash interrupted after its rename: removed at the next start.
    leftover = b1.data_dir / "phoenix-0.0123456789abcdef0123456789abcdef-delete"
    leftover.mkdir()
    (leftover / "00000000000000000000.log").write_bytes(b"old")
    b1.start()
    _eventually(lambda: _state(b2, "phoenix")[2] == [1, 2], timeout=60)
    _eventually(lambda: not leftover.exists())
    new_id = read_partition_metadata(b1.data_dir / "phoenix-0")
    assert new_id is not None and new_id != old_id
    # Broker 1 leads the new topic: it serves the new records and none of the old.
    [(_, error)] = admin.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition("phoenix", 0)]).result(30).items()
    assert error is None, error
    _eventually(lambda: _state(b3, "phoenix")[0] == 1)
    assert _consume_all(b1.bootstrap, "phoenix", 5) == new
    assert not [d for d in _dirs(b1, "phoenix") if d != "phoenix-0"]


def test_records_acknowledged_while_a_partition_moves_away_and_back_are_all_kept(
    cluster: dict[int, BrokerProcess],
) -> None:
    """acks=all producing goes on while the partition moves from [1, 2] to [2, 3] and back to
    [3, 1]: broker 1 drops its copy, later copies the partition afresh from the leader, and
    every acknowledged record is read back, in order, from the final replicas."""
    import threading

    from kafka import TopicPartition as KTopicPartition
    from kafka.admin import KafkaAdminClient

    b1, b2 = cluster[1], cluster[2]
    _create(b2, "roaming", [1, 2])
    _eventually(lambda: _state(b1, "roaming") == (1, [1, 2], [1, 2]))
    acked: list[str] = []
    errors: list[Any] = []
    stop = threading.Event()

    def produce() -> None:
        producer = Producer({"bootstrap.servers": ",".join(b.bootstrap for b in cluster.values()),
                             "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                             "message.timeout.ms": 60000})

        def delivered(err: Any, msg: Any) -> None:
            if err is None:
                acked.append(msg.value().decode())
            else:
                errors.append(err)

        i = 0
        while not stop.is_set():
            producer.produce("roaming", f"r-{i}".encode(), partition=0, on_delivery=delivered)
            producer.poll(0)
            i += 1
            time.sleep(0.002)
        assert producer.flush(60) == 0

    thread = threading.Thread(target=produce)
    thread.start()
    admin = KafkaAdminClient(bootstrap_servers=b2.bootstrap, request_timeout_ms=30000)
    try:
        tp = KTopicPartition("roaming", 0)
        for target in ([2, 3], [3, 1]):
            time.sleep(1.0)
            assert admin.alter_partition_reassignments({tp: target}) == {tp: None}
            _eventually(lambda: admin.list_partition_reassignments() == {}, timeout=60)
            _eventually(lambda t=target: _state(b2, "roaming")[1:] == (t, sorted(t)))
            if target == [2, 3]:
                _eventually(lambda: _dirs(b1, "roaming") == [], timeout=30)
        time.sleep(1.0)
    finally:
        admin.close()
        stop.set()
        thread.join(90)
    assert not errors, errors[:5]
    assert len(acked) > 100
    assert _consume_all(cluster[3].bootstrap, "roaming", len(acked)) == acked
    # Broker 1 copied the partition again from the leader: the same records, none older.
    assert _dirs(b1, "roaming") == ["roaming-0"]
