"""Leadership on a three-broker cluster with its metadata in a real etcd: a leader killed with
-9 is replaced from the ISR within the session timeout and producing goes on; ElectLeaders,
sent to any broker, is decided by the controller (unclean elections revive an offline
partition, preferred ones move leadership back); a broker stopped with SIGTERM hands its
leaderships over before it exits, while a producer keeps going with retriable errors only.

Replication of the data itself is not what these tests check: leadership and metadata are."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import ElectionType, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.cli.cluster import active_controller
from tests.support.brokers import BrokerProcess, etcd_cluster

CLUSTER_ID = "brook-e2e-election"
SESSION_MS = 3000
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    with etcd_cluster(tmp_path, CLUSTER_ID, {"broker.session.timeout.ms": str(SESSION_MS),
                                             "auto.leader.rebalance.enable": "false"}) as brokers:
        yield brokers


def _admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 5000})


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, KafkaException):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.1)


def _partitions(b: BrokerProcess, topic: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader, isr) as broker ``b`` answers Metadata."""
    md = _admin(b).list_topics(topic, timeout=5)
    t = md.topics[topic]
    assert t.error is None, t.error
    return {i: (p.leader, sorted(p.isrs)) for i, p in t.partitions.items()}


def _create(cluster: list[BrokerProcess], topic: str, assignment: list[list[int]]) -> None:
    admin = _admin(cluster[1])
    admin.create_topics([NewTopic(topic, num_partitions=len(assignment),
                                  replica_assignment=assignment)],
                        operation_timeout=10)[topic].result(30)
    for b in cluster:
        _eventually(lambda b=b: all(leader == replicas[0] for (leader, _), replicas in
                                    zip(_partitions(b, topic).values(), assignment, strict=True)))


def _described(b: BrokerProcess, topic: str, *flags: str) -> list[str]:
    """``brook topics --describe`` partition lines (a real subprocess), by partition."""
    proc = subprocess.run(
        [sys.executable, "-m", "brook", "topics", "--describe", "--bootstrap-server",
         b.bootstrap, "--topic", topic, *flags], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line.strip() for line in proc.stdout.splitlines() if "Partition:" in line]


def _produce(b: BrokerProcess, topic: str, n: int, partition: int = 0) -> int:
    producer = Producer({"bootstrap.servers": b.bootstrap, "acks": "all",
                         "message.timeout.ms": 30000})
    failures: list[Any] = []
    for i in range(n):
        producer.produce(topic, f"v{i}".encode(), partition=partition,
                         on_delivery=lambda err, _msg: err and failures.append(err))
    assert producer.flush(40) == 0
    assert not failures, failures
    return n


def test_a_leader_killed_with_9_is_replaced_from_the_isr_and_producing_goes_on(
    cluster: list[BrokerProcess],
) -> None:
    _create(cluster, "failover", [[1, 2, 3]])
    _produce(cluster[1], "failover", 20)
    cluster[0].kill()
    killed = time.monotonic()
    leader, isr = _eventually(lambda: (p := _partitions(cluster[1], "failover")[0])[0] in (2, 3)
                              and p, timeout=SESSION_MS / 1000 + 15)
    elapsed = time.monotonic() - killed
    print(f"new leader {leader} (ISR {isr}) in Metadata {elapsed:.1f}s after kill -9")
    assert elapsed < SESSION_MS / 1000 + 5
    assert leader == 2 and isr == [2, 3], (leader, isr)  # the first ISR replica, 1 left the ISR
    assert _partitions(cluster[2], "failover")[0] == (2, [2, 3])
    assert _described(cluster[2], "failover", "--under-replicated-partitions") == [
        "Topic: failover\tPartition: 0\tLeader: 2\tReplicas: 1,2,3\tIsr: 2,3"]
    assert _described(cluster[2], "failover", "--unavailable-partitions") == []
    assert _described(cluster[2], "failover", "--at-min-isr-partitions") == []
    _produce(cluster[2], "failover", 20)
    # Back, it leads nothing until it is in sync again: the ISR decides, not the assignment.
    cluster[0].start()
    _eventually(lambda: len(_admin(cluster[1]).list_topics(timeout=5).brokers) == 3)
    assert _partitions(cluster[0], "failover")[0][0] == 2


def test_elect_leaders_is_decided_by_the_controller_from_any_broker(
    cluster: list[BrokerProcess],
) -> None:
    _create(cluster, "elect", [[1, 2, 3], [2, 3, 1]])
    admin = _admin(cluster[2])
    tps = [TopicPartition("elect", 0), TopicPartition("elect", 1), TopicPartition("nope", 0)]
    answers = admin.elect_leaders(ElectionType.PREFERRED, tps).result(30)
    codes = {(tp.topic, tp.partition): (e.name() if e else None)
             for tp, e in answers.items()}
    assert codes == {("elect", 0): "ELECTION_NOT_NEEDED", ("elect", 1): "ELECTION_NOT_NEEDED",
                     ("nope", 0): "UNKNOWN_TOPIC_OR_PART"}, codes
    # Every replica of partition 0 but the last ISR member dies; then that one too: offline.
    for b in (cluster[0], cluster[1]):
        b.kill()
        _eventually(lambda b=b: b.node_id not in _partitions(cluster[2], "elect")[0][1],
                    timeout=SESSION_MS / 1000 + 15)
    cluster[2].kill()
    cluster[0].start()
    _eventually(lambda: _partitions(cluster[0], "elect")[0] == (-1, [3]),
                timeout=SESSION_MS / 1000 + 15)
    offline = _described(cluster[0], "elect", "--unavailable-partitions")
    assert [line.split("\t")[1:3] for line in offline] == [
        ["Partition: 0", "Leader: none"], ["Partition: 1", "Leader: none"]]
    assert len(_described(cluster[0], "elect", "--at-min-isr-partitions")) == 2
    admin = _admin(cluster[0])
    [(_, error)] = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elect", 0)]
                                        ).result(30).items()
    assert error is not None and error.name() == "PREFERRED_LEADER_NOT_AVAILABLE"
    [(_, error)] = admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition("elect", 0)]
                                        ).result(30).items()
    assert error is None, error
    _eventually(lambda: _partitions(cluster[0], "elect")[0] == (1, [1]))
    assert [line.split("\t")[1] for line in
            _described(cluster[0], "elect", "--unavailable-partitions")] == ["Partition: 1"]
    _produce(cluster[0], "elect", 5)


def test_elect_leaders_moves_leadership_back_to_the_preferred_replica(
    cluster: list[BrokerProcess],
) -> None:
    _create(cluster, "preferred", [[1, 2, 3]])
    cluster[0].kill()
    _eventually(lambda: _partitions(cluster[1], "preferred")[0][0] == 2,
                timeout=SESSION_MS / 1000 + 15)
    cluster[0].start()
    # The leader adds the returning replica to the ISR (AlterPartition) once it caught up.
    _eventually(lambda: 1 in _partitions(cluster[1], "preferred")[0][1], timeout=30)
    admin = _admin(cluster[2])
    answers = admin.elect_leaders(
        ElectionType.PREFERRED, [TopicPartition("preferred", 0)]).result(30)
    assert list(answers.values()) == [None]
    _eventually(lambda: _partitions(cluster[2], "preferred")[0][0] == 1)


def test_sigterm_moves_leaderships_away_before_the_broker_exits(
    cluster: list[BrokerProcess],
) -> None:
    """A broker that is not the controller (its BrokerHeartbeat is forwarded), then the
    controller itself: each hands its leaderships over before it exits, and a producer running
    all along loses nothing and sees no error it does not retry."""
    assignment = [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 3, 2]]
    _create(cluster, "handover", assignment)
    controller = _eventually(lambda: (c := active_controller("127.0.0.1", cluster[0].port)) > 0
                             and c)
    by_id = {b.node_id: b for b in cluster}
    follower = next(b for b in cluster if b.node_id != controller)
    last = next(b for b in cluster if b.node_id not in (controller, follower.node_id))
    producer = Producer({"bootstrap.servers": ",".join(b.bootstrap for b in cluster),
                         "acks": "all", "message.timeout.ms": 60000, "linger.ms": 5})
    failures: list[Any] = []
    delivered = [0]

    def on_delivery(err: Any, _msg: Any) -> None:
        if err:
            failures.append(err)
        else:
            delivered[0] += 1

    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            producer.produce("handover", f"h{i}".encode(), partition=i % 4,
                             on_delivery=on_delivery)
            producer.poll(0.01)
            i += 1

    thread = threading.Thread(target=produce)
    thread.start()
    gone: set[int] = set()
    try:
        for leaving in (follower, by_id[controller]):
            time.sleep(1.0)
            started = time.monotonic()
            code = leaving.stop()
            took = time.monotonic() - started
            gone.add(leaving.node_id)
            print(f"SIGTERM of broker {leaving.node_id} to its exit: {took:.1f}s")
            assert code == 0
            assert "leads no partition: shutting down" in leaving.output()
            leaders = _partitions(last, "handover")
            assert all(leader not in gone and not gone & set(isr)
                       for leader, isr in leaders.values()), leaders
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join()
    assert producer.flush(60) == 0
    print(f"{delivered[0]} records delivered")
    assert not failures, failures[:5]
    assert delivered[0] > 0
    assert all(leader == last.node_id for leader, _ in _partitions(last, "handover").values())


def _kafka_python_admin(b: BrokerProcess) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)


def test_reassignments_are_recorded_listed_cancelled_and_completed_within_the_isr(
    cluster: list[BrokerProcess],
) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    from kafka import TopicPartition as KTopicPartition

    _create(cluster, "moving", [[1, 2], [1, 2]])
    # Broker 3 must not catch up while the move is looked at midway, or it would complete
    # first: 2 MiB to copy and a follower throttle of 1 byte/s on broker 3 (its first fetch
    # takes at most replica.fetch.max.bytes, then the quota holds it back).
    confluent = _admin(cluster[1])
    throttles = [
        ConfigResource("broker", "3", incremental_configs=[ConfigEntry(
            "follower.replication.throttled.rate", "1",
            incremental_operation=AlterConfigOpType.SET)]),
        ConfigResource("topic", "moving", incremental_configs=[ConfigEntry(
            "follower.replication.throttled.replicas", "0:3",
            incremental_operation=AlterConfigOpType.SET)])]
    for future in confluent.incremental_alter_configs(throttles).values():
        future.result(30)
    producer = Producer({"bootstrap.servers": cluster[0].bootstrap, "acks": "all"})
    for _ in range(32):
        producer.produce("moving", b"x" * 65536, partition=0)
    assert producer.flush(40) == 0
    admin = _kafka_python_admin(cluster[2])
    try:
        tp0, tp1 = KTopicPartition("moving", 0), KTopicPartition("moving", 1)
        assert admin.alter_partition_reassignments({tp0: [2, 3]}) == {tp0: None}
        ongoing = admin.list_partition_reassignments()
        assert ongoing == {tp0: {"replicas": [2, 3, 1], "adding_replicas": [3],
                                 "removing_replicas": [1]}}, ongoing
        md = _admin(cluster[0]).list_topics("moving", timeout=5).topics["moving"].partitions
        assert md[0].replicas == [2, 3, 1] and md[0].leader == 1
        answers = admin.alter_partition_reassignments({tp0: None, tp1: None})
        assert answers[tp0] is None
        assert answers[tp1].__name__ == "NoReassignmentInProgressError"
        assert admin.list_partition_reassignments() == {}
        # Within the ISR a move completes at once; the leader, still a replica, stays.
        assert admin.alter_partition_reassignments({tp1: [2, 1]}) == {tp1: None}
        _eventually(lambda: (p := _admin(cluster[0]).list_topics("moving", timeout=5)
                             .topics["moving"].partitions[1]).replicas == [2, 1]
                    and p.leader == 1 and sorted(p.isrs) == [1, 2])
        assert admin.list_partition_reassignments() == {}
        assert _partitions(cluster[1], "moving")[0] == (1, [1, 2])
    finally:
        admin.close()
    # kafka-reassign-partitions.sh --throttle sets these on every broker.
    rate = ConfigResource("broker", "2", incremental_configs=[ConfigEntry(
        "leader.replication.throttled.rate", "1048576",
        incremental_operation=AlterConfigOpType.SET)])
    [future] = confluent.incremental_alter_configs([rate]).values()
    future.result(30)
    other = ConfigResource("broker", "2", incremental_configs=[ConfigEntry(
        "log.cleaner.threads", "2", incremental_operation=AlterConfigOpType.SET)])
    [future] = confluent.incremental_alter_configs([other]).values()
    with pytest.raises(KafkaException, match="Dynamic broker configuration is not supported"):
        future.result(30)


def test_a_reassignment_completes_once_the_new_replica_is_in_sync(
    cluster: list[BrokerProcess],
) -> None:
    from kafka import TopicPartition as KTopicPartition

    _create(cluster, "relocate", [[1, 2]])
    _produce(cluster[0], "relocate", 20)
    admin = _kafka_python_admin(cluster[1])
    try:
        tp = KTopicPartition("relocate", 0)
        assert admin.alter_partition_reassignments({tp: [2, 3]}) == {tp: None}
        # Completes once the new replica caught up and the leader added it to the ISR.
        _eventually(lambda: admin.list_partition_reassignments() == {}, timeout=30)
    finally:
        admin.close()
    leader, isr = _partitions(cluster[2], "relocate")[0]
    assert leader == 2 and isr == [2, 3]
