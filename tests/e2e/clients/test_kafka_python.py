"""kafka-python against a live broker: admin, produce, assign/seek consumption, offsets."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import kafka.codec
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import OffsetOutOfRangeError

from tests.support.ck import unique_topic

pytestmark = pytest.mark.timeout(90)

TIMEOUT = 20.0
BASE_TS = int(time.time() * 1000) - 3_600_000
CODECS = {"gzip": kafka.codec.has_gzip, "snappy": kafka.codec.has_snappy,
          "lz4": kafka.codec.has_lz4, "zstd": kafka.codec.has_zstd}


@pytest.fixture(name="admin", scope="module")
def fixture_admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    yield a
    a.close()


def create(admin: KafkaAdminClient, prefix: str, partitions: int = 1) -> str:
    name = unique_topic(prefix)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                        timeout_ms=15000)
    return name


def producer(bootstrap: str, **conf: Any) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=15000, **conf)


def consumer(bootstrap: str, **conf: Any) -> KafkaConsumer:
    conf.setdefault("auto_offset_reset", "earliest")
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         fetch_max_wait_ms=100, request_timeout_ms=15000, **conf)


def read(c: KafkaConsumer, count: int, timeout: float = TIMEOUT) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            out.extend(recs)
    assert len(out) >= count, f"read {len(out)} of {count} records within {timeout}s"
    return out


def read_partition(bootstrap: str, topic: str, partition: int, offset: int, count: int,
                   **conf: Any) -> list[Any]:
    c = consumer(bootstrap, **conf)
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        return read(c, count)
    finally:
        c.close()


def test_metadata_lists_broker_and_topics(bootstrap: str, admin: KafkaAdminClient) -> None:
    topic = create(admin, "kp-meta", partitions=2)
    assert topic in admin.list_topics()
    cluster = admin.describe_cluster()
    host, port = bootstrap.split(":")
    assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [
        (1, host, int(port))]
    assert cluster["controller_id"] == 1 and cluster["cluster_id"]
    c = consumer(bootstrap)
    try:
        assert topic in c.topics()
        assert c.partitions_for_topic(topic) == {0, 1}
    finally:
        c.close()


def test_keyed_records_headers_timestamps_round_trip(bootstrap: str, admin: KafkaAdminClient) -> None:
    topic = create(admin, "kp-keyed", partitions=2)
    p = producer(bootstrap, linger_ms=5)
    sent = []
    for i in range(20):
        rec = (i % 2, f"key-{i}".encode(), f"value-{i}".encode(),
               [("seq", str(i).encode()), ("bin", b"\x00\xff")], BASE_TS + i)
        fut = p.send(topic, partition=rec[0], key=rec[1], value=rec[2], headers=rec[3],
                     timestamp_ms=rec[4])
        sent.append((rec, fut))
    p.flush(TIMEOUT)
    metas = [fut.get(timeout=TIMEOUT) for _, fut in sent]
    p.close()
    for part in range(2):
        expected = [rec for rec, _ in sent if rec[0] == part]
        assert [m.offset for m in metas if m.partition == part] == list(range(len(expected)))
        got = read_partition(bootstrap, topic, part, 0, len(expected))
        assert [r.offset for r in got] == list(range(len(expected)))
        for r, (ep, key, value, headers, ts) in zip(got, expected, strict=True):
            assert (r.topic, r.partition, r.key, r.value, r.timestamp) == (topic, ep, key, value, ts)
            assert r.timestamp_type == 0
            assert list(r.headers) == headers


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_compression_codec_round_trips(bootstrap: str, admin: KafkaAdminClient, codec: str) -> None:
    if not CODECS[codec]():
        pytest.skip(f"kafka-python has no {codec} library in this environment")
    topic = create(admin, f"kp-{codec}")
    p = producer(bootstrap, compression_type=codec, linger_ms=20)
    values = [(f"record {i} " * (1 + i % 20)).encode() for i in range(200)]
    futs = [p.send(topic, key=b"k%d" % (i % 5), value=v) for i, v in enumerate(values)]
    p.flush(TIMEOUT)
    assert [f.get(timeout=TIMEOUT).offset for f in futs] == list(range(200))
    p.close()
    got = read_partition(bootstrap, topic, 0, 0, 200)
    assert [(r.offset, r.value) for r in got] == list(enumerate(values))


def test_900_kib_record_round_trips(bootstrap: str, admin: KafkaAdminClient) -> None:
    topic = create(admin, "kp-large")
    big = os.urandom(900 * 1024)
    p = producer(bootstrap, max_request_size=1048588)
    assert p.send(topic, key=b"big", value=big).get(timeout=TIMEOUT).offset == 0
    p.close()
    [r] = read_partition(bootstrap, topic, 0, 0, 1, max_partition_fetch_bytes=1048588)
    assert (r.offset, r.key, r.value) == (0, b"big", big)


def test_null_keys_and_tombstones_round_trip(bootstrap: str, admin: KafkaAdminClient) -> None:
    topic = create(admin, "kp-nulls")
    # kafka-python refuses to send a record with neither key nor value
    recs = [(None, b"no key"), (b"k", None), (b"", b""), (b"k", b"back")]
    p = producer(bootstrap)
    futs = [p.send(topic, key=k, value=v) for k, v in recs]
    p.flush(TIMEOUT)
    assert [f.get(timeout=TIMEOUT).offset for f in futs] == [0, 1, 2, 3]
    p.close()
    got = read_partition(bootstrap, topic, 0, 0, len(recs))
    assert [(r.offset, r.key, r.value) for r in got] == [(i, k, v) for i, (k, v) in enumerate(recs)]


def test_offsets_for_times(bootstrap: str, admin: KafkaAdminClient) -> None:
    topic = create(admin, "kp-times")
    p = producer(bootstrap)
    for i in range(10):
        p.send(topic, value=b"%d" % i, timestamp_ms=BASE_TS + i * 1000)
    p.flush(TIMEOUT)
    p.close()
    c = consumer(bootstrap)
    tp = TopicPartition(topic, 0)
    try:
        for ts, want in {BASE_TS: 0, BASE_TS + 2500: 3, BASE_TS + 9000: 9}.items():
            found = c.offsets_for_times({tp: ts}, timeout_ms=15000)[tp]
            assert found is not None and found.offset == want, (ts, found)
            assert found.timestamp == BASE_TS + want * 1000
        assert c.offsets_for_times({tp: BASE_TS + 9001}, timeout_ms=15000)[tp] is None
        assert c.beginning_offsets([tp], timeout_ms=15000) == {tp: 0}
        assert c.end_offsets([tp], timeout_ms=15000) == {tp: 10}
    finally:
        c.close()


@pytest.fixture(name="five")
def fixture_five(bootstrap: str, admin: KafkaAdminClient) -> str:
    topic = create(admin, "kp-reset")
    p = producer(bootstrap)
    for i in range(5):
        p.send(topic, value=b"%d" % i)
    p.flush(TIMEOUT)
    p.close()
    return topic


def test_offset_past_end_resets_to_earliest(bootstrap: str, five: str) -> None:
    got = read_partition(bootstrap, five, 0, 100, 5, auto_offset_reset="earliest")
    assert [r.offset for r in got] == [0, 1, 2, 3, 4]


def test_offset_past_end_resets_to_latest(bootstrap: str, five: str) -> None:
    c = consumer(bootstrap, auto_offset_reset="latest")
    tp = TopicPartition(five, 0)
    try:
        c.assign([tp])
        c.seek(tp, 100)
        deadline = time.monotonic() + TIMEOUT
        while c.position(tp) != 5 and time.monotonic() < deadline:
            assert c.poll(timeout_ms=100) == {}
        assert c.position(tp) == 5
        p = producer(bootstrap)
        p.send(five, value=b"new").get(timeout=TIMEOUT)
        p.close()
        [r] = read(c, 1)
        assert (r.offset, r.value) == (5, b"new")
    finally:
        c.close()


def test_offset_past_end_without_reset_policy_raises(bootstrap: str, five: str) -> None:
    c = consumer(bootstrap, auto_offset_reset="none")
    tp = TopicPartition(five, 0)
    try:
        c.assign([tp])
        c.seek(tp, 100)
        deadline = time.monotonic() + TIMEOUT
        with pytest.raises(OffsetOutOfRangeError):
            while time.monotonic() < deadline:
                c.poll(timeout_ms=100)
    finally:
        c.close()
