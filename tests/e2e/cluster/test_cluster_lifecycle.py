"""Lifecycle faults of a cluster broker against a real etcd: a broker paused past its session
whose node id another process took meanwhile shuts down when it resumes, rather than serve
unregistered; a broker killed with -9 and restarted is fenced, then rejoins under a new broker
epoch, without waiting out its predecessor's session."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.brokers import plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-lifecycle"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def _props(etcd: EtcdServer) -> dict[str, str]:
    return {"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
            "broker.session.timeout.ms": "3000"}


def test_a_paused_broker_whose_node_id_was_taken_shuts_down_when_resumed(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    first = plain_broker(tmp_path / "first" / "data", node_id=1, overrides=_props(etcd))
    twin = plain_broker(tmp_path / "twin" / "data", node_id=1, overrides=_props(etcd))
    first.start()
    try:
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGSTOP)
        try:
            # The twin registers once the paused broker's session has lapsed.
            twin.start(timeout=30)
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)
        try:
            code = first.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the replaced broker kept running:\n{first.output()[-3000:]}")
        assert code == 1, first.output()[-3000:]
        assert "node.id 1 was registered by another broker" in first.output()
        deadline = time.monotonic() + 20
        while True:
            md = AdminClient({"bootstrap.servers": twin.bootstrap}).list_topics(timeout=10)
            seen = [(m.id, m.port) for m in md.brokers.values()]
            if seen == [(1, twin.port)] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert seen == [(1, twin.port)]
    finally:
        twin.stop()
        first.stop()


def _broker_history(etcd: EtcdServer, node_id: int) -> list[tuple[str, int, bytes | int]]:
    """Broker ``node_id``'s registrations ("register", epoch, incarnation) and fencings
    ("fence", epoch, 1) in the shared metadata log, in log order."""
    from brook.env import SYSTEM_CLOCK
    from brook.metadata.serde import decode_record
    from brook.protocol.metadata_records.broker_registration_change_record import (
        BrokerRegistrationChangeRecord,
    )
    from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
    from brook.raft.etcd_client import EtcdClient, parse_endpoints
    from brook.raft.etcd_log import EtcdMetadataLog, cluster_prefix

    async def read() -> list[tuple[int, bytes]]:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        try:
            _, records = await EtcdMetadataLog(client, cluster_prefix(CLUSTER_ID),
                                               SYSTEM_CLOCK).read(0)
            return records
        finally:
            await client.close()

    out: list[tuple[str, int, bytes | int]] = []
    for _, value in asyncio.run(read()):
        r = decode_record(value)
        if isinstance(r, RegisterBrokerRecord) and r.broker_id == node_id:
            out.append(("register", r.broker_epoch, r.incarnation_id))
        elif (isinstance(r, BrokerRegistrationChangeRecord) and r.broker_id == node_id
              and r.fenced == 1):
            out.append(("fence", r.broker_epoch, 1))
    return out


def test_a_broker_killed_and_restarted_rejoins_under_a_new_epoch(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """kill -9 and a restart at once (same data, same port): the controller fences the dead
    incarnation when its session lapses, then registers the new one under a higher broker
    epoch, and clients see the broker again."""
    brokers = [plain_broker(tmp_path / f"b{n}" / "data", node_id=n, overrides=_props(etcd))
               for n in (1, 2)]
    for b in brokers:
        b.start()
    try:
        moved = brokers[1]
        before = _eventually_history(etcd, moved.node_id, lambda h: len(h) >= 1)
        assert before[-1][0] == "register"
        moved.kill()
        moved.start()
        after = _eventually_history(
            etcd, moved.node_id,
            lambda h: len(h) > len(before) and h[-1][0] == "register")
        new = after[len(before):]
        assert [kind for kind, _, _ in new] == ["fence", "register"], after
        assert new[-1][1] > before[-1][1], after
        assert new[-1][2] != before[-1][2]  # a new incarnation
        deadline = time.monotonic() + 20
        while True:
            md = AdminClient({"bootstrap.servers": brokers[0].bootstrap}).list_topics(timeout=10)
            if moved.node_id in md.brokers or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert moved.node_id in md.brokers
    finally:
        for b in brokers:
            b.stop()


def _eventually_history(etcd: EtcdServer, node_id: int,
                        ready: Callable[[list[tuple[str, int, bytes | int]]], bool],
                        timeout: float = 20.0) -> list[tuple[str, int, bytes | int]]:
    deadline = time.monotonic() + timeout
    while True:
        history = _broker_history(etcd, node_id)
        if ready(history) or time.monotonic() > deadline:
            return history
        time.sleep(0.2)


def test_auto_create_during_a_controller_change_is_answered_at_once(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """Right after the controller's kill -9, before its lease lapsed, a Metadata request that
    auto-creates a topic is answered at once with LEADER_NOT_AVAILABLE rather than held until
    a new controller is elected; the creation goes on, and a client retrying sees the topic
    with a leader."""
    from brook.cli.cluster import active_controller
    from brook.protocol.errors import ErrorCode
    from brook.protocol.messages.metadata import MetadataRequest
    from tests.hostile.hostile_kit import call, connect

    brokers = [plain_broker(tmp_path / f"b{n}" / "data", node_id=n, overrides=_props(etcd))
               for n in (1, 2, 3)]
    for b in brokers:
        b.start()
    try:
        deadline = time.monotonic() + 20
        controller = -1
        while controller < 0 and time.monotonic() < deadline:
            controller = active_controller("127.0.0.1", brokers[0].port)
            time.sleep(0.1)
        assert controller > 0
        survivor = next(b for b in brokers if b.node_id != controller)
        s = connect(survivor.port, timeout=30)
        # Once with the controller alive: the forwarding connection is pooled.
        warm = call(s, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
            name="before-change")], allow_auto_topic_creation=True), 12, 1)
        assert warm.topics[0].error_code in (ErrorCode.NONE, ErrorCode.LEADER_NOT_AVAILABLE)
        next(b for b in brokers if b.node_id == controller).kill()
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(
            name="born-during-change")], allow_auto_topic_creation=True)
        started = time.monotonic()
        first = call(s, request, 12, 2)
        took = time.monotonic() - started
        assert first.topics[0].error_code == ErrorCode.LEADER_NOT_AVAILABLE, first.topics
        assert took < 2.0, took
        correlation, code = 3, first.topics[0].error_code
        deadline = time.monotonic() + 25
        while code != ErrorCode.NONE and time.monotonic() < deadline:
            time.sleep(0.2)
            retry = call(s, request, 12, correlation)
            correlation += 1
            code = retry.topics[0].error_code
            assert code in (ErrorCode.NONE, ErrorCode.LEADER_NOT_AVAILABLE), retry.topics
        assert code == ErrorCode.NONE
        assert retry.topics[0].partitions[0].leader_id != controller
        s.close()
    finally:
        for b in brokers:
            b.stop()


def test_a_broker_restarted_at_once_after_kill_9_does_not_wait_out_its_old_session(
    tmp_path: Path, etcd: EtcdServer,
) -> None:
    """The restarted process holds the data directory's lock, so the process that registered
    from it before is dead: it ends that session (and controller term) itself. A lone broker
    has no peer to notice the death, so without that it would wait the whole 30 s session."""
    props = dict(_props(etcd), **{"broker.session.timeout.ms": "30000"})
    broker = plain_broker(tmp_path / "lone" / "data", node_id=1, overrides=props)
    broker.start()
    try:
        before = _eventually_history(etcd, 1, lambda h: len(h) >= 1)
        broker.kill()
        started = time.monotonic()
        broker.start(timeout=60)
        took = time.monotonic() - started
        assert took < 15, f"the restart waited {took:.1f} s: the old session was waited out"
        after = _eventually_history(
            etcd, 1, lambda h: len(h) > len(before) and h[-1][0] == "register")
        assert after[-1][2] != before[-1][2] and after[-1][1] > before[-1][1], after
        md = AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10)
        assert 1 in md.brokers
    finally:
        broker.stop()
