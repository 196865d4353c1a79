"""The cluster fault harness on real processes: etcd and three brokers in racks, every
broker->etcd and broker->broker connection through a fault proxy that knows who is talking,
and each process action (kill -9, SIGSTOP, SIGTERM, etcd restart), link cut and disk stall
doing to the cluster what it claims."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from brook.testing.fault_cluster import FaultCluster, broker_name

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[FaultCluster]:
    cluster = FaultCluster(tmp_path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def create(cluster: FaultCluster, via: int, name: str, timeout: float = 20) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.brokers[via].bootstrap, "log_level": 2})
    admin.create_topics([NewTopic(name, 3, 3)], request_timeout=timeout,
                        operation_timeout=timeout)[name].result(timeout + 5)


def wait_for(what: str, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.2)


def test_brokers_in_racks_behind_proxies_and_a_clean_stop(tmp_path: Path) -> None:
    cluster = FaultCluster(tmp_path)
    try:
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        described = admin.describe_cluster(request_timeout=10).result(15)
        assert {(n.id, n.rack) for n in described.nodes} == {
            (1, "use1-az1"), (2, "use1-az2"), (3, "use1-az3")}
        # Clients are told the client listener, never the inter-broker proxy.
        assert {n.port for n in described.nodes} == {b.port for b in cluster.brokers.values()}
        controller = cluster.controller()
        assert controller in cluster.brokers
        for n, proxy in cluster.etcd_proxies.items():
            assert set(proxy.accepted) == {broker_name(n)}, proxy.accepted
        other = next(n for n in cluster.brokers if n != controller)
        create(cluster, other, "via-a-peer")  # forwarded to the controller, through its proxy
        assert cluster.peer_proxies[controller].accepted[broker_name(other)] >= 1
        cluster.wait_settled(["via-a-peer"], timeout=30)
        pids = [b.pid for b in cluster.brokers.values()] + [cluster.etcd.pid]
    finally:
        cluster.stop()
    assert not any(b.alive() for b in cluster.brokers.values()) and not cluster.etcd.alive()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(
            f"/proc/{pid}/status").read_text().lower()


def test_a_broker_cut_from_etcd_past_its_session_is_fenced_and_rejoins(
        cluster: FaultCluster) -> None:
    target = next(n for n in cluster.brokers if n != cluster.controller())
    witness = next(n for n in cluster.brokers if n != target)
    cluster.cut_etcd(target)
    wait_for(f"broker {target} fenced", lambda: target not in cluster.registered(witness))
    cluster.heal()
    cluster.wait_settled([], timeout=60)


def test_a_peer_cut_stops_forwarding_from_that_broker_only(cluster: FaultCluster) -> None:
    controller = cluster.controller()
    cut, free = (n for n in cluster.brokers if n != controller)
    cluster.cut_peers(cut, [controller])
    with pytest.raises(KafkaException):
        create(cluster, cut, "blocked", timeout=5)
    create(cluster, free, "allowed")
    cluster.heal()
    create(cluster, cut, "healed")
    cluster.wait_settled(["allowed", "healed"], timeout=60)


def test_kill_pause_terminate_and_an_etcd_restart(cluster: FaultCluster) -> None:
    create(cluster, 1, "t")
    cluster.kill(2)
    assert not cluster.brokers[2].alive()
    cluster.start_broker(2)  # waits out the dead incarnation's session
    cluster.wait_settled(["t"], timeout=60)

    cluster.pause(3)
    assert 3 not in cluster.serving()
    wait_for("broker 3 fenced", lambda: 3 not in cluster.registered(1))
    cluster.resume(3)
    cluster.wait_settled(["t"], timeout=60)

    assert cluster.terminate(1) == 0
    cluster.start_broker(1)
    cluster.wait_settled(["t"], timeout=60)

    cluster.kill_etcd()
    time.sleep(1)
    cluster.start_etcd()
    create(cluster, 2, "after-etcd")
    cluster.wait_settled(["t", "after-etcd"], timeout=60)


def _timed_produce(bootstrap: str, topic: str) -> float:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 0,
                         "log_level": 2})
    producer.produce(topic, b"warm", partition=0)
    assert producer.flush(30) == 0
    started = time.monotonic()
    producer.produce(topic, b"timed", partition=0)
    assert producer.flush(30) == 0
    return time.monotonic() - started


def test_a_stalled_disk_slows_the_broker_that_has_it_until_healed(
        cluster: FaultCluster) -> None:
    create(cluster, 1, "slow")
    cluster.wait_settled(["slow"], timeout=30)
    leader = cluster.leader("slow", 0)
    cluster.stall_disk(leader, 1500)
    time.sleep(0.1)  # the broker re-reads its control file every 20 ms
    assert _timed_produce(cluster.bootstrap, "slow") >= 1.5
    cluster.heal()
    time.sleep(0.1)
    assert _timed_produce(cluster.bootstrap, "slow") < 1.5
