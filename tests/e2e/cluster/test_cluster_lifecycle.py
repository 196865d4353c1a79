"""Lifecycle faults of a cluster broker against a real etcd: a broker paused past its session
whose node id another process took meanwhile shuts down when it resumes, rather than serve
unregistered; a broker killed with -9 rejoins under a new broker epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
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
