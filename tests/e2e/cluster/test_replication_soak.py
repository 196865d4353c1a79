"""Kill -9 and restart brokers of a replicated topic again and again while a producer writes:
afterwards every replica of every partition is byte-identical to its leader, and every
acknowledged record is in it exactly once (``BROOK_FAULT_SEED`` replays the kill order)."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as CkTopicPartition

from tests.e2e.cluster.test_replication import (
    _create,
    _eventually,
    _identical,
    _partition,
    fixture_cluster,  # noqa: F401 (fixture)
    fixture_etcd,  # noqa: F401 (fixture)
)
from tests.support.brokers import BrokerProcess

TOPIC = "soak"
PARTITIONS = 3


def _read_all(cluster: dict[int, BrokerProcess], index: int, end: int) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": ",".join(b.bootstrap for b in cluster.values()),
                         "group.id": f"soak-check-{index}", "enable.auto.commit": False})
    consumer.assign([CkTopicPartition(TOPIC, index, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(values) < end and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            values.append(msg.value())
    consumer.close()
    return values


@pytest.mark.slow
def test_kill_minus_nine_cycles_lose_no_acknowledged_record(
    cluster: dict[int, BrokerProcess], tmp_path: Path
) -> None:
    seed = int(os.environ.get("BROOK_FAULT_SEED", random.SystemRandom().randrange(1 << 30)))
    print(f"BROOK_FAULT_SEED={seed}")
    rng = random.Random(seed)
    _create(cluster, TOPIC, PARTITIONS)
    acked: dict[int, dict[int, bytes]] = {i: {} for i in range(PARTITIONS)}
    failed: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))
            return
        acked[msg.partition()][msg.offset()] = msg.value()  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": ",".join(b.bootstrap for b in cluster.values()),
                         "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 120000})
    sent = 0
    for cycle in range(10):
        victim = cluster[rng.choice(sorted(cluster))]
        print(f"cycle {cycle}: kill -9 broker {victim.node_id}")
        victim.kill()
        for _ in range(200):
            producer.produce(TOPIC, value=b"v-%d" % sent, partition=sent % PARTITIONS,
                             on_delivery=on_delivery)
            sent += 1
            producer.poll(0)
        time.sleep(rng.uniform(0.2, 1.5))
        victim.start()
        producer.poll(0)
    assert producer.flush(120) == 0
    assert not failed, failed[:5]
    assert sum(len(a) for a in acked.values()) == sent
    for index in range(PARTITIONS):
        _eventually(lambda i=index: _partition(cluster, TOPIC, i).leader in cluster, 60)
        _identical(cluster, TOPIC, index)
        values = _read_all(cluster, index, len(acked[index]))
        assert sorted(values) == sorted(acked[index].values())
        assert len(set(values)) == len(values)
