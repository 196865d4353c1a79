"""Every client the platform promises, against a three-broker cluster in two availability
zones (metadata in a real etcd), each bootstrapped from a broker that is neither the topic's
leader nor the controller where it can be: kafka-python, aiokafka, kcat, the Java producer and
consumer, and Kafka's own kafka-topics."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture
from tests.support.java import kafka_script
from tests.support.java_programs import run_json

CLUSTER_ID = "brook-e2e-clients"
RACKS = {1: "use1-az1", 2: "use1-az2", 3: "use1-az1"}
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(name="cluster", scope="module")
def fixture_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[BrokerProcess]]:
    tmp = tmp_path_factory.mktemp("clients-cluster")
    etcd: EtcdServer = etcd_fixture(tmp)
    brokers = []
    try:
        for node_id, rack in RACKS.items():
            b = plain_broker(tmp / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "broker.rack": rack,
            })
            b.start()
            brokers.append(b)
        yield brokers
    finally:
        for b in brokers:
            b.stop()
        etcd.stop()


def _topic(cluster: list[BrokerProcess], name: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": cluster[0].bootstrap})
    admin.create_topics([NewTopic(name, partitions, 2)], operation_timeout=20)[name].result(30)
    # Every broker knows the topic and its leaders before a client is pointed at it.
    for b in cluster:
        for _ in range(100):
            md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(name, timeout=10)
            t = md.topics.get(name)
            if t is not None and t.error is None and all(p.leader >= 0 for p in t.partitions.values()):
                break
        else:
            raise AssertionError(f"{name} never appeared on broker {b.node_id}")


def test_kafka_python_produces_and_consumes_through_different_brokers(
    cluster: list[BrokerProcess],
) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    _topic(cluster, "c-kafka-python")
    producer = KafkaProducer(bootstrap_servers=cluster[1].bootstrap, acks="all")
    for i in range(30):
        producer.send("c-kafka-python", key=str(i).encode(), value=f"kp-{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer("c-kafka-python", bootstrap_servers=cluster[2].bootstrap,
                             group_id="c-kp", auto_offset_reset="earliest",
                             consumer_timeout_ms=20000)
    got = []
    for m in consumer:  # ends at 30 records, or after 20 s without one
        got.append(m.value)
        if len(got) == 30:
            break
    extra = consumer.poll(timeout_ms=1000)  # and nothing beyond them: no record twice
    consumer.close()
    assert sorted(got) == sorted(f"kp-{i}".encode() for i in range(30))
    assert not any(extra.values()), extra


def test_aiokafka_produces_and_consumes_through_different_brokers(
    cluster: list[BrokerProcess],
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    _topic(cluster, "c-aiokafka")

    async def main() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=cluster[2].bootstrap, acks="all",
                                    enable_idempotence=True)
        await producer.start()
        try:
            for i in range(30):
                await producer.send_and_wait("c-aiokafka", f"ak-{i}".encode(), key=str(i).encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("c-aiokafka", bootstrap_servers=cluster[0].bootstrap,
                                    group_id="c-ak", auto_offset_reset="earliest")
        await consumer.start()
        got: list[bytes] = []
        try:
            async with asyncio.timeout(40):
                while len(got) < 30:
                    batch = await consumer.getmany(timeout_ms=500)
                    got += [m.value for msgs in batch.values() for m in msgs if m.value]
        finally:
            await consumer.stop()
        return got

    assert sorted(asyncio.run(main())) == sorted(f"ak-{i}".encode() for i in range(30))


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")
def test_kcat_lists_the_cluster_and_moves_records(cluster: list[BrokerProcess]) -> None:
    _topic(cluster, "c-kcat", partitions=1)
    listing = subprocess.run(["kcat", "-b", cluster[2].bootstrap, "-L"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    assert "3 brokers:" in listing and "c-kcat" in listing
    subprocess.run(["kcat", "-b", cluster[1].bootstrap, "-P", "-t", "c-kcat"],
                   input="one\ntwo\nthree\n", text=True, timeout=30, check=True)
    out = subprocess.run(["kcat", "-b", cluster[2].bootstrap, "-C", "-t", "c-kcat", "-e",
                          "-o", "beginning", "-m", "20"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.split() == ["one", "two", "three"]


def test_java_clients_and_kafka_topics_against_the_cluster(cluster: list[BrokerProcess]) -> None:
    _topic(cluster, "c-java")
    acks = run_json("JProduce", cluster[1].bootstrap, "c-java", "50")
    assert not [a for a in acks if "error" in a], acks[:3]
    assert acks[-1]["done"] == 50
    read = run_json("JConsume", cluster[2].bootstrap, "c-java", "50", "30000")
    assert read[-1] == {"count": 50}
    assert sorted(r["key"] for r in read[:-1]) == sorted(f"key-{i}" for i in range(50))
    described = kafka_script("kafka-topics.sh", "--bootstrap-server", cluster[2].bootstrap,
                             "--describe", "--topic", "c-java").stdout
    rows = [line for line in described.splitlines() if "Partition:" in line]
    assert len(rows) == 3
    for row in rows:
        replicas = [int(r) for r in row.split("Replicas: ")[1].split()[0].split(",")]
        assert {RACKS[r] for r in replicas} == {"use1-az1", "use1-az2"}, row
