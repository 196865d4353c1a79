"""kafka-python and aiokafka consume as a group, commit, close; the next member resumes."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition as ATP
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KTP

from tests.support.ck import Rec, create_topic, produce, unique_topic

pytestmark = pytest.mark.timeout(90)
TIMEOUT = 20.0


def fill(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    produce(bootstrap, topic, [Rec(value=b"%d-%d" % (p, i), partition=p)
                               for i in range(per_partition) for p in range(partitions)])


def kp_consumer(bootstrap: str, group: str, topic: str) -> KafkaConsumer:
    # kafka-python's group leader can assign before its first metadata for the topic arrives
    # ("No partition metadata"), leaving the group with no partitions until the metadata is
    # refreshed and it rejoins: refreshed within a second here, not the default five minutes.
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         fetch_max_wait_ms=50, request_timeout_ms=15000,
                         session_timeout_ms=6000, heartbeat_interval_ms=500,
                         metadata_max_age_ms=1000)


def kp_read(c: KafkaConsumer, n: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    deadline = time.monotonic() + TIMEOUT
    while len(out) < n:
        assert time.monotonic() < deadline, f"read {len(out)} of {n}"
        for records in c.poll(timeout_ms=100, max_records=n - len(out)).values():
            out.extend((r.partition, r.offset) for r in records)
    return out


def test_kafka_python_group_commit_and_resume(gbootstrap: str) -> None:
    topic, group = unique_topic("kp-grp"), unique_topic("kp-grp-g")
    create_topic(gbootstrap, topic, partitions=2)
    fill(gbootstrap, topic, 2, 5)
    c = kp_consumer(gbootstrap, group, topic)
    first = kp_read(c, 6)
    c.commit()
    assert {tp.partition for tp in c.assignment()} == {0, 1}
    committed = {p: c.committed(KTP(topic, p)) for p in (0, 1)}
    c.close()
    c2 = kp_consumer(gbootstrap, group, topic)
    try:
        rest = kp_read(c2, 4)
        assert sorted(first + rest) == [(p, o) for p in (0, 1) for o in range(5)]
        assert {p: c2.committed(KTP(topic, p)) for p in (0, 1)} == committed
    finally:
        c2.close()


def test_aiokafka_group_commit_and_resume(gbootstrap: str) -> None:
    topic, group = unique_topic("aio-grp"), unique_topic("aio-grp-g")
    create_topic(gbootstrap, topic, partitions=2)
    fill(gbootstrap, topic, 2, 5)

    def consumer() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(topic, bootstrap_servers=gbootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=50, request_timeout_ms=15000,
                                session_timeout_ms=6000, heartbeat_interval_ms=500)

    async def read(c: AIOKafkaConsumer, n: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        while len(out) < n:
            batches = await c.getmany(timeout_ms=100, max_records=n - len(out))
            for records in batches.values():
                out.extend((r.partition, r.offset) for r in records)
        return out

    async def body() -> None:
        c = consumer()
        await c.start()
        try:
            first = await asyncio.wait_for(read(c, 6), TIMEOUT)
            await c.commit()
            committed = {p: await c.committed(ATP(topic, p)) for p in (0, 1)}
        finally:
            await c.stop()
        c2 = consumer()
        await c2.start()
        try:
            rest = await asyncio.wait_for(read(c2, 4), TIMEOUT)
            assert sorted(first + rest) == [(p, o) for p in (0, 1) for o in range(5)]
            assert {p: await c2.committed(ATP(topic, p)) for p in (0, 1)} == committed
        finally:
            await c2.stop()

    asyncio.run(asyncio.wait_for(body(), 60))
