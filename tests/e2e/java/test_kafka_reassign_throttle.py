"""Kafka's own ``kafka-reassign-partitions.sh --execute --throttle`` and ``--verify`` against
three brokers over etcd: the throttle it sets (both rates on every broker, the leader list
naming the current replica and the follower list the one added, ``kafka-configs.sh`` shows
them) paces the move to about the time the rate implies, and ``--verify`` on the completed
move clears every throttle it set."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import etcd_fixture
from tests.support.java import kafka_script

RATE = 200 * 1024
PAYLOAD = 1536 * 1024
FETCH_MAX = 64 * 1024
REASSIGN = "kafka-reassign-partitions.sh"
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path) -> Iterator[list[BrokerProcess]]:
    etcd = etcd_fixture(tmp_path)
    brokers: list[BrokerProcess] = []
    try:
        for node_id in (1, 2, 3):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": "brook-e2e-reassign",
                "auto.leader.rebalance.enable": "false",
                "replica.fetch.max.bytes": str(FETCH_MAX),
            })
            b.start()
            brokers.append(b)
        yield brokers
    finally:
        for b in brokers:
            b.stop()
        etcd.stop()


def _dynamic(bs: str, entity_type: str, name: str) -> list[str]:
    out = kafka_script("kafka-configs.sh", "--bootstrap-server", bs, "--describe",
                       "--entity-type", entity_type, "--entity-name", name).stdout
    return sorted(line.strip().split(" ")[0] for line in out.splitlines()
                  if line.startswith("  "))


def test_reassign_partitions_throttle_paces_the_move_and_verify_clears_it(
    cluster: list[BrokerProcess], tmp_path: Path,
) -> None:
    bs = cluster[0].bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    admin.create_topics([NewTopic("moved", num_partitions=1, replica_assignment=[[1]])],
                        operation_timeout=10)["moved"].result(30)
    producer = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 5,
                         "batch.size": 32768})
    for _ in range(PAYLOAD // 1024):
        producer.produce("moved", b"x" * 1024, partition=0)
        producer.poll(0)
    assert producer.flush(60) == 0
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": "moved", "partition": 0, "replicas": [1, 2]}]}))

    started = time.monotonic()
    out = kafka_script(REASSIGN, "--bootstrap-server", bs, "--reassignment-json-file",
                       str(plan), "--execute", "--throttle", str(RATE)).stdout
    assert f"The inter-broker throttle limit was set to {RATE} B/s" in out, out
    assert _dynamic(bs, "brokers", "2") == [f"follower.replication.throttled.rate={RATE}",
                                             f"leader.replication.throttled.rate={RATE}"]
    assert _dynamic(bs, "topics", "moved") == ["follower.replication.throttled.replicas=0:2",
                                               "leader.replication.throttled.replicas=0:1"]

    def in_sync() -> bool:
        md = admin.list_topics("moved", timeout=10).topics["moved"].partitions[0]
        return sorted(md.isrs) == [1, 2]

    deadline = started + 60
    while not in_sync():
        assert time.monotonic() < deadline, "the move did not complete"
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    implied = (PAYLOAD - FETCH_MAX) / RATE
    print(f"throttled move {elapsed:.1f} s (rate implies {implied:.1f} s)")
    assert elapsed >= 0.6 * implied

    deadline = time.monotonic() + 30
    while True:  # the controller completes the move once the new replica is in the ISR
        out = kafka_script(REASSIGN, "--bootstrap-server", bs, "--reassignment-json-file",
                           str(plan), "--verify").stdout
        if "Reassignment of partition moved-0 is completed." in out:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    assert "Clearing broker-level throttles on brokers 1,2,3" in out, out
    assert "Clearing topic-level throttles on topic moved" in out, out
    for broker in ("1", "2", "3"):
        assert _dynamic(bs, "brokers", broker) == []
    assert _dynamic(bs, "topics", "moved") == []
