"""A dead broker is noticed at once, a paused one is not, on a three-broker cluster with its
metadata in a real etcd and the default ``broker.session.timeout.ms`` (9 s).

A leader killed with -9 refuses connections on its listener, so its peers end its session
and a new leader is elected from the ISR in well under the session; acks=all produce goes on.
A leader stopped with SIGSTOP still accepts connections (its kernel does), so it keeps its
session and its leaderships until the session runs out, as in Kafka: a paused process is no
dead one, and judging it so would move leaderships on every long pause."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.brokers import BrokerProcess, etcd_cluster

CLUSTER_ID = "brook-e2e-dead-broker"
TOPIC = "noticed"
SESSION_S = 9.0
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    with etcd_cluster(tmp_path, CLUSTER_ID, {"auto.leader.rebalance.enable": "false"}) as brokers:
        yield brokers


def _eventually(check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # a broker still starting or just killed: ask again
            result = None
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def _partition(b: BrokerProcess) -> tuple[int, tuple[int, ...]]:
    admin = AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 3000})
    p = admin.list_topics(TOPIC, timeout=3).topics[TOPIC].partitions[0]
    return p.leader, tuple(sorted(p.isrs))


def _produce(bootstrap: str, value: bytes, timeout: float) -> int:
    acked: list[int] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "message.timeout.ms": int(timeout * 1000)})
    producer.produce(TOPIC, value, partition=0,
                     on_delivery=lambda err, msg: acked.append(-1 if err else msg.offset()))
    producer.flush(timeout)
    assert acked and acked[0] >= 0, acked
    return acked[0]


def test_a_killed_leader_is_replaced_well_within_the_session_and_a_paused_one_is_not(
        cluster: list[BrokerProcess]) -> None:
    by_id = {b.node_id: b for b in cluster}
    admin = AdminClient({"bootstrap.servers": cluster[0].bootstrap})
    admin.create_topics([NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})],
                        operation_timeout=30)[TOPIC].result(60)
    assert _eventually(lambda: len(_partition(cluster[0])[1]) == 3, 30)
    bootstrap = ",".join(b.bootstrap for b in cluster)
    _produce(bootstrap, b"before", 30)

    # Paused: it keeps its session (and leadership) for a good part of it.
    leader = _partition(cluster[0])[0]
    paused = by_id[leader]
    other = next(b for b in cluster if b.node_id != leader)
    assert paused.proc is not None
    os.kill(paused.proc.pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        while time.monotonic() - stopped < SESSION_S / 2:
            assert _partition(other)[0] == leader, "a paused broker was judged dead"
            time.sleep(0.2)
    finally:
        os.kill(paused.proc.pid, signal.SIGCONT)
    assert _eventually(lambda: len(_partition(other)[1]) == 3, 30)

    # Killed: a new leader from the ISR long before the session would have run out.
    leader = _partition(other)[0]
    killed = by_id[leader]
    survivor = next(b for b in cluster if b.node_id != leader)
    started = time.monotonic()
    killed.kill()
    moved = _eventually(lambda: (p := _partition(survivor))[0] not in (leader, -1) and p, 20)
    took = time.monotonic() - started
    assert moved, "no new leader"
    assert leader not in moved[1]
    assert took < SESSION_S / 2, f"the new leader took {took:.1f} s: the session ran out"
    _produce(",".join(b.bootstrap for b in cluster if b is not killed), b"after", 30)
