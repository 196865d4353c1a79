"""Three brokers sharing their metadata through a real etcd: every broker answers with the same
brokers, topics, leaders and controller; topics created through the controller appear
everywhere; the controller killed with -9 is replaced and topic creation goes on; a broker
killed and restarted is fenced, then rejoins with a new epoch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from brook.cli.cluster import active_controller
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-cluster"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[list[BrokerProcess]]:
    brokers = []
    for node_id, rack in ((1, "use1-az1"), (2, "use1-az2"), (3, "use1-az1")):
        b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
            "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
            "broker.rack": rack, "broker.session.timeout.ms": "3000",
        })
        b.start()
        brokers.append(b)
    yield brokers
    for b in brokers:
        b.stop()


def _admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 5000})


def _eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.2)


def _view(b: BrokerProcess) -> tuple[int, list[tuple[int, str | None]], dict[str, list[int]]]:
    """(active controller, live brokers, leaders per topic) as broker ``b`` answers them."""
    admin = _admin(b)
    md = admin.list_topics(timeout=10)
    # Metadata names a live broker (the one that answered; it forwards admin requests);
    # DescribeCluster names the node holding the controller's term.
    assert md.controller_id in md.brokers
    controller = active_controller("127.0.0.1", b.port)
    brokers = sorted((bid, f"{m.host}:{m.port}") for bid, m in md.brokers.items())
    leaders = {name: [p.leader for _, p in sorted(t.partitions.items())]
               for name, t in md.topics.items()}
    return controller, brokers, leaders


def _create(b: BrokerProcess, name: str, partitions: int, rf: int) -> None:
    admin = _admin(b)
    futures = admin.create_topics([NewTopic(name, partitions, rf)], operation_timeout=10)
    futures[name].result(timeout=20)


def test_every_broker_sees_the_same_cluster(cluster: list[BrokerProcess]) -> None:
    views = _eventually(lambda: (lambda vs: vs if all(len(v[1]) == 3 and v[0] > 0 for v in vs)
                                 and len({(v[0], tuple(v[1])) for v in vs}) == 1 else None)(
        [_view(b) for b in cluster]))
    controller = views[0][0]
    by_id = {b.node_id: b for b in cluster}
    _create(by_id[controller], "replicated", 4, 2)
    md = _eventually(lambda: (lambda m: m if "replicated" in m.topics else None)(
        _admin(cluster[(controller % 3)]).list_topics(timeout=10)))
    racks = {1: "use1-az1", 2: "use1-az2", 3: "use1-az1"}
    for p in md.topics["replicated"].partitions.values():
        assert len(p.replicas) == 2
        assert {racks[r] for r in p.replicas} == {"use1-az1", "use1-az2"}, p.replicas
    leaders = [_eventually(lambda b=b: _view(b)[2].get("replicated")) for b in cluster]
    assert leaders[0] == leaders[1] == leaders[2]


def test_a_killed_controller_is_replaced_and_topics_can_still_be_created(
    cluster: list[BrokerProcess],
) -> None:
    controller = _eventually(lambda: _view(cluster[0])[0] if _view(cluster[0])[0] > 0 else None)
    by_id = {b.node_id: b for b in cluster}
    by_id[controller].kill()
    survivor = next(b for b in cluster if b.node_id != controller)
    started = time.monotonic()
    new = _eventually(lambda: (lambda c: c if c > 0 and c != controller else None)(_view(survivor)[0]))
    by_id_new = by_id[new]
    _eventually(lambda: _create(by_id_new, "after-failover", 1, 1) or True)
    took = time.monotonic() - started
    assert took < 15, took
    # The killed broker's registration lapses: it is fenced (gone from Metadata).
    _eventually(lambda: controller not in [bid for bid, _ in _view(survivor)[1]])
    by_id[controller].start()
    _eventually(lambda: controller in [bid for bid, _ in _view(survivor)[1]])
    assert "after-failover" in _view(by_id[controller])[2]


def test_a_create_topics_sent_as_the_controller_dies_waits_for_the_next_one(
    cluster: list[BrokerProcess],
) -> None:
    """Sent to a surviving broker at once after the controller's kill -9, before its lease has
    lapsed: the request waits out the change (as Kafka's forwarding does) and succeeds, rather
    than failing with REQUEST_TIMED_OUT or NOT_CONTROLLER."""
    controller = _eventually(lambda: _view(cluster[0])[0] if _view(cluster[0])[0] > 0 else None)
    survivors = [b for b in cluster if b.node_id != controller]
    for b in survivors:  # each has forwarded to the controller once: a pooled connection
        _create(b, f"before-{b.node_id}", 1, 1)
    next(b for b in cluster if b.node_id == controller).kill()
    for b in survivors:
        name = f"during-{b.node_id}"
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 30000})
        admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=25)[name].result(timeout=40)
    for b in survivors:
        _eventually(lambda b=b: {f"during-{s.node_id}" for s in survivors} <= set(_view(b)[2]))


def test_clients_work_through_any_broker(cluster: list[BrokerProcess]) -> None:
    """Idempotent produce (producer ids from the controller, forwarded), an auto-created topic
    (forwarded CreateTopics), a consumer group (its coordinator on the leader of its
    __consumer_offsets partition), each bootstrapped from a different broker."""
    from confluent_kafka import Consumer, Producer

    _eventually(lambda: all(_view(b)[0] > 0 and len(_view(b)[1]) == 3 for b in cluster))
    for i, b in enumerate(cluster):
        producer = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                             "acks": "all", "message.timeout.ms": 30000})
        for n in range(20):
            producer.produce(f"through-any-{i}", key=str(n).encode(), value=f"v{n}".encode())
        assert producer.flush(30) == 0
    for i in range(len(cluster)):
        reader = cluster[(i + 1) % len(cluster)]
        consumer = Consumer({"bootstrap.servers": reader.bootstrap, "group.id": f"g-{i}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe([f"through-any-{i}"])
        got: list[bytes] = []
        deadline = time.monotonic() + 40
        while len(got) < 20 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(msg.value())
        consumer.commit(asynchronous=False)
        consumer.close()
        assert sorted(got) == sorted(f"v{n}".encode() for n in range(20))


def test_brokers_keep_serving_while_etcd_restarts(
    cluster: list[BrokerProcess], etcd: EtcdServer,
) -> None:
    from confluent_kafka import Consumer, Producer

    _eventually(lambda: all(_view(b)[0] > 0 and len(_view(b)[1]) == 3 for b in cluster))
    _create(cluster[0], "during-etcd-outage", 1, 1)
    etcd.kill()
    try:
        producer = Producer({"bootstrap.servers": cluster[1].bootstrap, "acks": "all"})
        for n in range(10):
            producer.produce("during-etcd-outage", value=f"m{n}".encode())
        assert producer.flush(30) == 0  # the data path does not need the metadata store
    finally:
        etcd.start()
    # Metadata changes resume once etcd is back (leases may lapse: brokers re-register).
    _eventually(lambda: _create(cluster[2], "after-etcd-restart", 1, 1) or True, timeout=60)
    _eventually(lambda: all("after-etcd-restart" in _view(b)[2] for b in cluster), timeout=60)
    _eventually(lambda: all(len(_view(b)[1]) == 3 for b in cluster), timeout=60)
    consumer = Consumer({"bootstrap.servers": cluster[2].bootstrap, "group.id": "after-etcd",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["during-etcd-outage"])
    got: list[bytes] = []
    deadline = time.monotonic() + 40
    while len(got) < 10 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    consumer.close()
    assert sorted(got) == sorted(f"m{n}".encode() for n in range(10))


def test_a_second_broker_with_a_taken_node_id_does_not_start(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """Started with the node.id of a live broker (its own data dir and port): it exits with
    a clear error, and the live broker's registration and endpoint stay as they were."""
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    first = plain_broker(tmp_path / "first" / "data", node_id=1, overrides=props)
    twin = plain_broker(tmp_path / "twin" / "data", node_id=1, overrides=props)
    first.start()
    try:
        with pytest.raises(RuntimeError, match=r"another live broker is registered with node\.id 1"):
            twin.start()
        _create(first, "still-first", 1, 1)
        md = _admin(first).list_topics(timeout=10)
        assert [(m.id, m.port) for m in md.brokers.values()] == [(1, first.port)]
    finally:
        twin.stop()
        first.stop()


def test_a_controller_paused_past_its_lease_rejoins_as_a_follower(
    cluster: list[BrokerProcess],
) -> None:
    """SIGSTOP of the controller until another broker holds the term, a topic created
    meanwhile, then SIGCONT: the paused broker acts as a controller no more, catches up, and
    takes and forwards admin requests like any broker."""
    import os
    import signal

    controller = _eventually(lambda: _view(cluster[0])[0] if _view(cluster[0])[0] > 0 else None)
    paused = next(b for b in cluster if b.node_id == controller)
    survivor = next(b for b in cluster if b.node_id != controller)
    assert paused.proc is not None
    os.kill(paused.proc.pid, signal.SIGSTOP)
    try:
        _eventually(lambda: (lambda c: c > 0 and c != controller)(_view(survivor)[0]))
        _create(survivor, "while-paused", 1, 1)
    finally:
        os.kill(paused.proc.pid, signal.SIGCONT)
    _eventually(lambda: "while-paused" in _view(paused)[2])
    new = _view(survivor)[0]
    assert new != controller
    _eventually(lambda: _view(paused)[0] == new)
    admin = AdminClient({"bootstrap.servers": paused.bootstrap, "socket.timeout.ms": 30000})
    admin.create_topics([NewTopic("after-pause", 1, 1)], operation_timeout=25)["after-pause"].result(40)
    _eventually(lambda: all("after-pause" in _view(b)[2] for b in cluster))


def test_a_broker_killed_and_restarted_with_another_rack_and_port_is_known_by_them(
    cluster: list[BrokerProcess],
) -> None:
    """kill -9, then the same node id and data directory on a new port in another rack: it
    registers once its old session lapsed, and every broker names its new endpoint."""
    from brook.testing.process import free_port

    moved = cluster[1]
    moved.kill()
    moved.port = free_port()
    moved.overrides["broker.rack"] = "use1-az3"
    moved.start()
    for b in cluster:
        _eventually(lambda b=b: (moved.node_id, f"127.0.0.1:{moved.port}") in _view(b)[1])
    admin = _admin(cluster[0])
    nodes = admin.describe_cluster().result(timeout=10).nodes
    assert {n.id: n.rack for n in nodes}[moved.node_id] == "use1-az3"
