"""aiokafka against a live broker: admin, produce, assign/seek consumption, offsets."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OffsetOutOfRangeError

from tests.support.ck import unique_topic

pytestmark = pytest.mark.timeout(90)

TIMEOUT = 20.0
BASE_TS = int(time.time() * 1000) - 3_600_000


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 60.0) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro_fn(), timeout)
    asyncio.run(main())


async def create(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    name = unique_topic(prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        resp = await admin.create_topics([NewTopic(name, partitions, 1)], timeout_ms=15000)
        assert [(t[0], t[1]) for t in resp.topic_errors] == [(name, 0)], resp
    finally:
        await admin.close()
    return name


async def produce(bootstrap: str, topic: str, records: list[dict[str, Any]],
                  **conf: Any) -> list[Any]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, **conf)
    await p.start()
    try:
        futs = [await p.send(topic, **rec) for rec in records]
        return [await f for f in futs]
    finally:
        await p.stop()


def consumer(bootstrap: str, **conf: Any) -> AIOKafkaConsumer:
    conf.setdefault("auto_offset_reset", "earliest")
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            fetch_max_wait_ms=100, request_timeout_ms=15000, **conf)


async def read(c: AIOKafkaConsumer, count: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < count:
        for recs in (await c.getmany(timeout_ms=200)).values():
            out.extend(recs)
    return out


async def read_partition(bootstrap: str, topic: str, partition: int, offset: int, count: int,
                         **conf: Any) -> list[Any]:
    c = consumer(bootstrap, **conf)
    await c.start()
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        return await asyncio.wait_for(read(c, count), TIMEOUT)
    finally:
        await c.stop()


def test_metadata_lists_broker_and_topics(bootstrap: str) -> None:
    async def body() -> None:
        topic = await create(bootstrap, "aio-meta", partitions=2)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            assert topic in await admin.list_topics()
            cluster = await admin.describe_cluster()
            [desc] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        host, port = bootstrap.split(":")
        assert [(b["node_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [
            (1, host, int(port))]
        assert (desc["topic"], desc["error_code"]) == (topic, 0)
        assert [(p["partition"], p["leader"], p["replicas"], p["isr"]) for p in desc["partitions"]
                ] == [(0, 1, [1], [1]), (1, 1, [1], [1])]
        c = consumer(bootstrap)
        await c.start()
        try:
            assert topic in await c.topics()
        finally:
            await c.stop()
    run(body)


def test_keyed_records_headers_timestamps_round_trip(bootstrap: str) -> None:
    recs = [dict(partition=i % 2, key=f"key-{i}".encode(), value=f"value-{i}".encode(),
                 headers=[("seq", str(i).encode()), ("bin", b"\x00\xff")],
                 timestamp_ms=BASE_TS + i) for i in range(20)]

    async def body() -> None:
        topic = await create(bootstrap, "aio-keyed", partitions=2)
        metas = await produce(bootstrap, topic, recs, linger_ms=5)
        for part in range(2):
            expected = [r for r in recs if r["partition"] == part]
            assert [m.offset for m in metas if m.partition == part] == list(range(len(expected)))
            got = await read_partition(bootstrap, topic, part, 0, len(expected))
            assert [r.offset for r in got] == list(range(len(expected)))
            for r, e in zip(got, expected, strict=True):
                assert (r.topic, r.partition, r.key, r.value, r.timestamp) == (
                    topic, part, e["key"], e["value"], e["timestamp_ms"])
                assert r.timestamp_type == 0
                assert list(r.headers) == e["headers"]
    run(body)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_codec_round_trips(bootstrap: str, codec: str) -> None:
    values = [(f"record {i} " * (1 + i % 20)).encode() for i in range(200)]

    async def body() -> None:
        topic = await create(bootstrap, f"aio-{codec}")
        metas = await produce(bootstrap, topic, [dict(value=v) for v in values],
                              compression_type=codec, linger_ms=20)
        assert [m.offset for m in metas] == list(range(200))
        got = await read_partition(bootstrap, topic, 0, 0, 200)
        assert [(r.offset, r.value) for r in got] == list(enumerate(values))
    run(body)


def test_900_kib_record_round_trips(bootstrap: str) -> None:
    big = os.urandom(900 * 1024)

    async def body() -> None:
        topic = await create(bootstrap, "aio-large")
        [m] = await produce(bootstrap, topic, [dict(key=b"big", value=big)],
                            max_request_size=1048588)
        assert m.offset == 0
        [r] = await read_partition(bootstrap, topic, 0, 0, 1, max_partition_fetch_bytes=1048588)
        assert (r.offset, r.key, r.value) == (0, b"big", big)
    run(body)


def test_null_keys_and_tombstones_round_trip(bootstrap: str) -> None:
    # aiokafka refuses to send a record with neither key nor value
    recs = [(None, b"no key"), (b"k", None), (b"", b""), (b"k", b"back")]

    async def body() -> None:
        topic = await create(bootstrap, "aio-nulls")
        metas = await produce(bootstrap, topic, [dict(key=k, value=v) for k, v in recs])
        assert [m.offset for m in metas] == [0, 1, 2, 3]
        got = await read_partition(bootstrap, topic, 0, 0, len(recs))
        assert [(r.offset, r.key, r.value) for r in got] == [
            (i, k, v) for i, (k, v) in enumerate(recs)]
    run(body)


def test_offsets_for_times(bootstrap: str) -> None:
    async def body() -> None:
        topic = await create(bootstrap, "aio-times")
        await produce(bootstrap, topic, [dict(value=b"%d" % i, timestamp_ms=BASE_TS + i * 1000)
                                         for i in range(10)])
        c = consumer(bootstrap)
        await c.start()
        tp = TopicPartition(topic, 0)
        try:
            for ts, want in {BASE_TS: 0, BASE_TS + 2500: 3, BASE_TS + 9000: 9}.items():
                found = (await c.offsets_for_times({tp: ts}))[tp]
                assert found is not None and found.offset == want, (ts, found)
                assert found.timestamp == BASE_TS + want * 1000
            assert (await c.offsets_for_times({tp: BASE_TS + 9001}))[tp] is None
            assert await c.beginning_offsets([tp]) == {tp: 0}
            assert await c.end_offsets([tp]) == {tp: 10}
        finally:
            await c.stop()
    run(body)


def test_offset_past_end_resets(bootstrap: str) -> None:
    async def body() -> None:
        topic = await create(bootstrap, "aio-reset")
        await produce(bootstrap, topic, [dict(value=b"%d" % i) for i in range(5)])
        got = await read_partition(bootstrap, topic, 0, 100, 5, auto_offset_reset="earliest")
        assert [r.offset for r in got] == [0, 1, 2, 3, 4]

        tp = TopicPartition(topic, 0)
        c = consumer(bootstrap, auto_offset_reset="latest")
        await c.start()
        try:
            c.assign([tp])
            c.seek(tp, 100)
            while await c.position(tp) != 5:
                assert await c.getmany(timeout_ms=100) == {}
            await produce(bootstrap, topic, [dict(value=b"new")])
            [r] = await asyncio.wait_for(read(c, 1), TIMEOUT)
            assert (r.offset, r.value) == (5, b"new")
        finally:
            await c.stop()

        c = consumer(bootstrap, auto_offset_reset="none")
        await c.start()
        try:
            c.assign([tp])
            c.seek(tp, 100)
            with pytest.raises(OffsetOutOfRangeError):
                while True:
                    await c.getmany(timeout_ms=100)
        finally:
            await c.stop()
    run(body)
