"""confluent-kafka (librdkafka 2.x) against a live broker: produce, fetch, offsets, metadata."""

from __future__ import annotations

import os
import time

import pytest
from confluent_kafka import (
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec

from tests.support.ck import (
    TIMEOUT,
    Rec,
    admin,
    consume,
    consumer,
    create_topic,
    produce,
    unique_topic,
)
from tests.support.ck import wait_event as next_event

pytestmark = pytest.mark.timeout(90)

BASE_TS = int(time.time() * 1000) - 3_600_000


def test_metadata_lists_broker_and_topics(bootstrap: str) -> None:
    topic = unique_topic("ck-meta")
    create_topic(bootstrap, topic, partitions=3)
    md = admin(bootstrap).list_topics(timeout=TIMEOUT)
    host, port = bootstrap.split(":")
    assert [(b.id, b.host, b.port) for b in md.brokers.values()] == [(1, host, int(port))]
    assert md.controller_id == 1
    tmd = md.topics[topic]
    assert tmd.error is None
    assert sorted(tmd.partitions) == [0, 1, 2]
    for p in tmd.partitions.values():
        assert (p.leader, p.replicas, p.isrs, p.error) == (1, [1], [1], None)
    one = admin(bootstrap).list_topics(topic=topic, timeout=TIMEOUT)
    assert list(one.topics) == [topic]


def test_keyed_records_headers_timestamps_round_trip(bootstrap: str) -> None:
    topic = unique_topic("ck-keyed")
    create_topic(bootstrap, topic, partitions=3)
    recs = [
        Rec(key=f"key-{i}".encode(), value=f"value-{i}".encode(), partition=i % 3,
            headers=[("seq", str(i).encode()), ("bin", b"\x00\xff"), ("seq", b"again")],
            timestamp=BASE_TS + i * 10)
        for i in range(30)
    ]
    delivered = produce(bootstrap, topic, recs)
    for p in range(3):
        expected = [r for r in recs if r.partition == p]
        assert [o for (dp, o), r in zip(delivered, recs, strict=True) if dp == p] == list(range(10))
        got = consume(bootstrap, topic, p, 0)
        assert [m.offset() for m in got] == list(range(len(expected)))
        for m, r in zip(got, expected, strict=True):
            assert (m.topic(), m.partition(), m.key(), m.value()) == (topic, p, r.key, r.value)
            assert m.headers() == r.headers
            assert m.timestamp() == (TIMESTAMP_CREATE_TIME, r.timestamp)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_codec_round_trips(bootstrap: str, codec: str) -> None:
    topic = unique_topic(f"ck-{codec}")
    create_topic(bootstrap, topic)
    recs = [Rec(key=f"k{i % 7}".encode(), value=(f"record {i} " * (1 + i % 20)).encode(),
                headers=[("i", str(i).encode())], timestamp=BASE_TS + i) for i in range(300)]
    offsets = produce(bootstrap, topic, recs, **{"compression.type": codec, "linger.ms": 50})
    assert [o for _, o in offsets] == list(range(300))
    got = consume(bootstrap, topic)
    assert [m.offset() for m in got] == list(range(300))
    assert [(m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in got] == [
        (r.key, r.value, r.headers, r.timestamp) for r in recs]
    # Starting inside a compressed batch: the broker sends the whole batch, the client skips.
    mid = consume(bootstrap, topic, offset=137)
    assert [(m.offset(), m.value()) for m in mid] == [(i, recs[i].value) for i in range(137, 300)]


def test_900_kib_record_round_trips_and_oversized_is_rejected(bootstrap: str) -> None:
    topic = unique_topic("ck-large")
    create_topic(bootstrap, topic)
    big = os.urandom(900 * 1024)
    assert produce(bootstrap, topic, [Rec(key=b"big", value=big)],
                   **{"message.max.bytes": 1048588}) == [(0, 0)]
    [m] = consume(bootstrap, topic, **{"max.partition.fetch.bytes": 1048588})
    assert (m.offset(), m.key(), m.value()) == (0, b"big", big)
    # Fetch limits below the record size still return the first batch (KIP-74).
    [m] = consume(bootstrap, topic, **{"max.partition.fetch.bytes": 1024, "fetch.max.bytes": 1024,
                                      "message.max.bytes": 1000})
    assert m.value() == big

    errors: list[KafkaError] = []
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 4_000_000})
    p.produce(topic, os.urandom(1_200_000),
              on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(TIMEOUT) == 0
    assert [e.code() if e else None for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE]


def test_null_keys_and_tombstones_round_trip(bootstrap: str) -> None:
    topic = unique_topic("ck-nulls")
    create_topic(bootstrap, topic)
    recs = [Rec(key=None, value=b"no key"), Rec(key=b"k", value=None),
            Rec(key=b"", value=b""), Rec(key=None, value=None), Rec(key=b"k", value=b"back")]
    produce(bootstrap, topic, recs)
    got = consume(bootstrap, topic)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (i, r.key, r.value) for i, r in enumerate(recs)]


def test_list_offsets_by_timestamp(bootstrap: str) -> None:
    topic = unique_topic("ck-times")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [Rec(value=b"%d" % i, timestamp=BASE_TS + i * 1000)
                               for i in range(10)])
    c = consumer(bootstrap)
    try:
        queries = {BASE_TS - 5: 0, BASE_TS: 0, BASE_TS + 2500: 3, BASE_TS + 9000: 9,
                   BASE_TS + 9001: -1}
        for ts, want in queries.items():
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=TIMEOUT)
            assert (tp.error, tp.offset) == (None, want), ts
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT) == (0, 10)
    finally:
        c.close()
    a = admin(bootstrap)
    specs = {"earliest": (OffsetSpec.earliest(), 0), "latest": (OffsetSpec.latest(), 10),
             "ts": (OffsetSpec.for_timestamp(BASE_TS + 4000), 4)}
    for name, (spec, want) in specs.items():
        futs = a.list_offsets({TopicPartition(topic, 0): spec}, request_timeout=TIMEOUT)
        info = next(iter(futs.values())).result(timeout=TIMEOUT)
        assert info.offset == want, name
        if name == "ts":
            assert info.timestamp == BASE_TS + 4000


def test_list_offsets_max_timestamp_is_the_record_not_its_batch(bootstrap: str) -> None:
    topic = unique_topic("ck-maxts")
    create_topic(bootstrap, topic)
    # One batch whose largest timestamp is on its middle record.
    produce(bootstrap, topic, [Rec(value=b"a", timestamp=BASE_TS + 5),
                               Rec(value=b"b", timestamp=BASE_TS + 50),
                               Rec(value=b"c", timestamp=BASE_TS + 7)], **{"linger.ms": 100})
    a = admin(bootstrap)
    futs = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()},
                          request_timeout=TIMEOUT)
    info = next(iter(futs.values())).result(timeout=TIMEOUT)
    assert (info.offset, info.timestamp) == (1, BASE_TS + 50)


def test_log_append_time_topic_overrides_producer_timestamps(bootstrap: str) -> None:
    topic = unique_topic("ck-logappend")
    create_topic(bootstrap, topic, config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce(bootstrap, topic, [Rec(value=b"x", timestamp=BASE_TS)])
    after = int(time.time() * 1000)
    [m] = consume(bootstrap, topic)
    kind, ts = m.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME and before - 1000 <= ts <= after + 1000


def test_acks_zero_produce(bootstrap: str) -> None:
    topic = unique_topic("ck-acks0")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [Rec(value=b"%d" % i) for i in range(50)], acks=0)
    got = consume(bootstrap, topic, count=50)
    assert [(m.offset(), m.value()) for m in got] == [(i, b"%d" % i) for i in range(50)]


def test_idempotent_producer_assigns_contiguous_offsets(bootstrap: str) -> None:
    topic = unique_topic("ck-idem")
    create_topic(bootstrap, topic)
    offsets = produce(bootstrap, topic, [Rec(value=b"%d" % i) for i in range(500)],
                      **{"enable.idempotence": True, "acks": "all", "batch.num.messages": 50})
    assert [o for _, o in offsets] == list(range(500))
    assert [m.value() for m in consume(bootstrap, topic)] == [b"%d" % i for i in range(500)]


@pytest.fixture(name="five")
def fixture_five(bootstrap: str) -> str:
    topic = unique_topic("ck-reset")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [Rec(value=b"%d" % i) for i in range(5)])
    return topic


def test_offset_past_end_resets_to_earliest(bootstrap: str, five: str) -> None:
    got = consume(bootstrap, five, offset=100, count=5, **{"auto.offset.reset": "earliest"})
    assert [m.offset() for m in got] == [0, 1, 2, 3, 4]


def test_offset_past_end_resets_to_latest(bootstrap: str, five: str) -> None:
    c = consumer(bootstrap, **{"auto.offset.reset": "latest"})
    try:
        c.assign([TopicPartition(five, 0, 100)])
        eof = next_event(c)
        assert eof.error() is not None and eof.error().code() == KafkaError._PARTITION_EOF
        assert eof.offset() == 5
        produce(bootstrap, five, [Rec(value=b"new")])
        msg = next_event(c)
        assert msg.error() is None and (msg.offset(), msg.value()) == (5, b"new")
    finally:
        c.close()


def test_offset_past_end_with_reset_error_reports_out_of_range(bootstrap: str, five: str) -> None:
    c = consumer(bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(five, 0, 100)])
        ev = next_event(c)
        assert ev.error() is not None and ev.error().code() == KafkaError._AUTO_OFFSET_RESET, ev.error()
    finally:
        c.close()
