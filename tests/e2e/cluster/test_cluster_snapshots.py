"""Metadata snapshots in etcd: the controller snapshots the image and trims the log below it;
a broker that joins later starts from the snapshot, and one that was paused while the log was
trimmed catches up from it (topics created and deleted meanwhile included)."""

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

from brook.raft.etcd_client import EtcdClient, parse_endpoints, prefix_end
from brook.raft.etcd_log import cluster_prefix
from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture

CLUSTER_ID = "brook-e2e-snapshots"
PREFIX = cluster_prefix(CLUSTER_ID)


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def _broker(tmp_path: Path, etcd: EtcdServer, node_id: int) -> BrokerProcess:
    b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
        "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
        "broker.rack": f"use1-az{node_id % 2 + 1}", "broker.session.timeout.ms": "3000",
        "metadata.log.max.record.bytes.between.snapshots": "2000",
    })
    b.start()
    return b


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(0.2)


def _topics(b: BrokerProcess) -> set[str]:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    return {t for t in admin.list_topics(timeout=10).topics if not t.startswith("__")}


def _create(b: BrokerProcess, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for name, f in admin.create_topics([NewTopic(n, 2, 1) for n in names],
                                       operation_timeout=20).items():
        f.result(timeout=30)


def _etcd_state(etcd: EtcdServer) -> tuple[int, int]:
    """(the newest snapshot's end offset or -1, log batches left)."""
    async def read() -> tuple[int, int]:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        try:
            _, current = await client.get(PREFIX + b"snap_current")
            _, kvs, _ = await client.range(PREFIX + b"log/", prefix_end(PREFIX + b"log/"))
            return (int(current.value) if current else -1), len(kvs)
        finally:
            await client.close()
    return asyncio.run(read())


def test_new_and_paused_brokers_start_from_the_snapshot(tmp_path: Path, etcd: EtcdServer) -> None:
    brokers = [_broker(tmp_path, etcd, n) for n in (1, 2, 3)]
    late: BrokerProcess | None = None
    try:
        first = [f"snap-a{i}" for i in range(20)]
        _create(brokers[0], first)
        end, _ = _eventually(lambda: (lambda s: s if s[0] >= 0 else None)(_etcd_state(etcd)))
        # A broker joining now can only build its image from the snapshot plus what followed.
        late = _broker(tmp_path, etcd, 4)
        assert set(first) <= _eventually(lambda: (lambda t: t if set(first) <= t else None)(
            _topics(late)))

        # Broker 3 sleeps through more changes and a newer snapshot that trims them away.
        os.kill(brokers[2].pid, signal.SIGSTOP)
        try:
            second = [f"snap-b{i}" for i in range(20)]
            _create(brokers[0], second)
            admin = AdminClient({"bootstrap.servers": brokers[0].bootstrap})
            admin.delete_topics(["snap-a0"], operation_timeout=20)["snap-a0"].result(timeout=30)
            _eventually(lambda: _etcd_state(etcd)[0] > end)
        finally:
            os.kill(brokers[2].pid, signal.SIGCONT)
        want = (set(first) | set(second)) - {"snap-a0"}
        _eventually(lambda: _topics(brokers[2]) == want, timeout=60)
        assert _topics(late) == want
    finally:
        for b in [*brokers, *([late] if late else [])]:
            b.stop()
