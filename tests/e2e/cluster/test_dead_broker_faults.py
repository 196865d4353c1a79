"""Ending a dead broker's session early, and what must not be taken for a dead broker,
against a real etcd and real broker processes.

A broker started on a copy of a running broker's data directory finds the running broker's
incarnation recorded there: the directory's lock tells it nothing (a copy is another file), so
it must not end that broker's session or controller term; the running broker's inter-broker
listener still accepting, or its registration naming other endpoints, shows it is not this
broker's past. A live broker whose endpoint refuses (a rejecting firewall) is fenced once, not
over and over. A restart behind a load balancer still ends its dead predecessor's session, and
a garbled ``broker.incarnation`` never stops a start.

And, slow: a run of restarts, stops and pauses fences only the broker each one hits, and no
acknowledged record is lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.e2e.cluster.test_cluster_lifecycle import _broker_history, _eventually_history
from tests.support.brokers import BrokerProcess, free_port, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture
from tests.support.proxy import TcpProxy

CLUSTER_ID = "brook-e2e-lifecycle"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def test_a_broker_on_a_copy_of_a_live_brokers_directory_does_not_end_its_session(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    live = plain_broker(tmp_path / "live" / "data", node_id=1, overrides=props)
    live.start()
    copy = None
    try:
        before = _eventually_history(etcd, 1, lambda h: len(h) >= 1)
        shutil.copytree(live.data_dir, tmp_path / "copy" / "data")
        copy = plain_broker(tmp_path / "copy" / "data", node_id=1, overrides=props,
                            port=live.port)
        copy.started_once = True  # the same port on purpose: no retry on another one
        with pytest.raises((RuntimeError, TimeoutError)):
            copy.start(timeout=40)
        assert copy.proc is not None
        try:
            copy.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the copy kept running:\n{copy.output()[-3000:]}")
        time.sleep(2)  # a revoked session would be seen by the live broker's next renewal
        assert live.alive(), live.output()[-3000:]
        after = _broker_history(etcd, 1)
        assert after == before, f"the live broker was fenced: {after}"
        assert "ended the session of this broker's previous process" not in copy.output()
    finally:
        if copy is not None:
            copy.kill()
        live.stop()



def test_a_copy_on_other_endpoints_does_not_end_the_live_brokers_controller_term(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """The copy started on another port: the live broker's registration names other endpoints
    than the copy's, so that incarnation is not the copy's past, and its controller term is
    not either (the copy's own endpoints refusing proves nothing about it)."""
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    live = plain_broker(tmp_path / "live" / "data", node_id=1, overrides=props, log_level="INFO")
    live.start()
    copy = None
    try:
        deadline = time.monotonic() + 20
        while "node 1 is the active controller" not in live.output():
            assert time.monotonic() < deadline, live.output()[-3000:]
            time.sleep(0.1)
        before = _broker_history(etcd, 1)
        shutil.copytree(live.data_dir, tmp_path / "copy" / "data")
        copy = plain_broker(tmp_path / "copy" / "data", node_id=1, overrides=props,
                            log_level="INFO")
        copy.started_once = True
        with pytest.raises((RuntimeError, TimeoutError)):
            copy.start(timeout=40)
        assert "another live broker is registered with node.id 1" in copy.output()
        assert live.alive(), live.output()[-3000:]
        assert "lost controller leadership" not in live.output(), live.output()[-3000:]
        assert "ended the controller term" not in copy.output()
        assert _broker_history(etcd, 1) == before
    finally:
        if copy is not None:
            copy.kill()
        live.stop()


def test_a_live_broker_that_looks_dead_is_fenced_once_and_serves_again(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """Broker 3's inter-broker endpoint is a proxy, which is then stopped: connecting to it is
    refused as if broker 3 had died, though it runs (a firewall that rejects does the same).
    It is fenced once, registers again under the same incarnation, is unfenced, and is left
    alone while the proxy still refuses, instead of being fenced again and again."""
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    proxy = TcpProxy(0).start()
    brokers = [plain_broker(tmp_path / f"b{n}" / "data", node_id=n, overrides=props)
               for n in (1, 2)]
    target = plain_broker(tmp_path / "b3" / "data", node_id=3, overrides=props)
    proxy.upstream_port = target.port
    target.advertised_listeners = f"PLAINTEXT://127.0.0.1:{proxy.port}"
    brokers.append(target)
    try:
        for b in brokers:
            b.start()
        admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
        deadline = time.monotonic() + 20
        while len(admin.list_topics(timeout=10).brokers) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        while proxy.accepted < 2:  # both peers hold their connection to it
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proxy.stop()
        deadline = time.monotonic() + 15
        while "fence" not in [kind for kind, _, _ in _broker_history(etcd, 3)]:
            assert time.monotonic() < deadline, "the refusing broker was never judged dead"
            time.sleep(0.2)
        time.sleep(8)  # refused all along: more than two sessions
        history = [kind for kind, _, _ in _broker_history(etcd, 3)]
        assert history.count("fence") == 1, history
        assert target.alive()
        assert 3 in admin.list_topics(timeout=10).brokers
    finally:
        for b in brokers:
            b.kill()
        proxy.stop()


def test_a_restart_behind_a_load_balancer_still_ends_the_dead_predecessors_session(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """The clients' listener is advertised at a proxy, which accepts connections whether or
    not the broker behind it runs: only the inter-broker endpoint (reached directly, as peers
    reach it) tells whether the recorded incarnation still listens. Killed -9 and restarted
    at once, the broker does not wait out its predecessor's 30 s session."""
    replication = free_port()
    broker = plain_broker(
        tmp_path / "lb" / "data", node_id=1,
        overrides={"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                   "broker.session.timeout.ms": "30000",
                   "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
                   "inter.broker.listener.name": "REPLICATION"})
    proxy = TcpProxy(broker.port).start()
    broker.listeners = f"PLAINTEXT://127.0.0.1:{{port}},REPLICATION://127.0.0.1:{replication}"
    broker.advertised_listeners = (f"PLAINTEXT://127.0.0.1:{proxy.port},"
                                   f"REPLICATION://127.0.0.1:{replication}")
    try:
        broker.start()
        broker.started_once = True
        _eventually_history(etcd, 1, lambda h: len(h) >= 1)
        broker.kill()
        started = time.monotonic()
        broker.start(timeout=60)
        took = time.monotonic() - started
        assert took < 15, f"the restart waited {took:.1f} s: the old session was waited out"
    finally:
        broker.kill()
        proxy.stop()

def _controller(brokers: list[BrokerProcess]) -> int:
    from brook.cli.cluster import active_controller
    for b in brokers:
        with contextlib.suppress(Exception):
            if b.alive() and (node := active_controller("127.0.0.1", b.port)) > 0:
                return node
    return -1


@pytest.mark.slow
def test_restarts_pauses_and_stops_fence_only_the_broker_they_hit_and_lose_no_ack(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """Three brokers, acks=all with min.insync.replicas=2 and RF=3 while one broker after
    another is killed -9 and restarted at once (the controller too), stopped with SIGTERM and
    restarted, and paused for less than its session: each restart fences the broker restarted
    once, nothing fences a broker that was not hit, and every acknowledged record is read back."""
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "auto.leader.rebalance.enable": "false"}
    brokers = [plain_broker(tmp_path / f"b{n}" / "data", node_id=n, overrides=props)
               for n in (1, 2, 3)]
    for b in brokers:
        b.start()
    by_id = {b.node_id: b for b in brokers}
    bootstrap = ",".join(b.bootstrap for b in brokers)
    acked: dict[bytes, int] = {}
    failed: list[str] = []
    stop = threading.Event()

    def produce() -> None:
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                             "enable.idempotence": True, "message.timeout.ms": 60000})

        def delivered(err: Any, msg: Any) -> None:
            if err:
                failed.append(str(err))
            else:
                acked[msg.value()] = msg.offset()

        i = 0
        while not stop.is_set():
            producer.produce("faults", str(i).encode(), on_delivery=delivered)
            producer.poll(0.005)
            i += 1
        producer.flush(60)

    thread = threading.Thread(target=produce)
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("faults", 3, 3, config={"min.insync.replicas": "2"})],
                            operation_timeout=30)["faults"].result(60)
        fences = {n: 0 for n in by_id}
        thread.start()
        time.sleep(2)
        controller = _controller(brokers)
        assert controller > 0
        for node, how in [(controller, "kill"), (controller % 3 + 1, "kill"),
                          ((controller + 1) % 3 + 1, "term"), (controller, "pause")]:
            b = by_id[node]
            if how == "pause":
                os.kill(b.pid, signal.SIGSTOP)
                time.sleep(2)
                os.kill(b.pid, signal.SIGCONT)
            else:
                b.stop(signal.SIGKILL if how == "kill" else signal.SIGTERM)
                b.start()
                fences[node] += 1
            time.sleep(3)
        time.sleep(3)
        stop.set()
        thread.join(90)
        for node in by_id:
            history = [kind for kind, _, _ in _broker_history(etcd, node)]
            assert history.count("fence") == fences[node], (node, history)
        assert not failed, failed[:5]
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition("faults", p, 0) for p in range(3)])
        seen: set[bytes] = set()
        idle = time.monotonic()
        while time.monotonic() - idle < 10 and not set(acked) <= seen:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                seen.add(msg.value())
                idle = time.monotonic()
        consumer.close()
        lost = set(acked) - seen
        assert len(acked) > 1000 and not lost, (len(acked), sorted(lost)[:10])
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(90)
        for b in brokers:
            if b.alive():
                os.kill(b.pid, signal.SIGCONT)
            b.kill()


def test_a_broker_starts_whatever_its_recorded_incarnation_file_holds(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """``broker.incarnation`` is a hint: garbage in it (a torn write, a disk error) makes the
    broker wait out whatever session is left, never fail to start."""
    props = {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
             "broker.session.timeout.ms": "3000"}
    broker = plain_broker(tmp_path / "b" / "data", node_id=1, overrides=props)
    broker.start()
    try:
        assert broker.stop() == 0
        (broker.data_dir / "broker.incarnation").write_bytes(b"\xff\xfe\x00garbage\x80\n")
        broker.start(timeout=40)
        assert broker.alive()
    finally:
        broker.stop()
