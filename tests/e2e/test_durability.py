"""Acknowledged records survive kill -9 (with a torn tail) and a clean SIGTERM restart."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Message, Producer, TopicPartition

from tests.support.ck import TIMEOUT, Rec, admin, consume, consumer, create_topic, produce

pytestmark = pytest.mark.timeout(120)

KILL_AFTER = 3000
MAX_AHEAD = 5000


def stream_until_killed(broker: Any, topic: str) -> tuple[dict[int, int], int]:
    """Produce numbered records with acks=1 and kill -9 the broker mid-stream.

    Returns {offset: number} of every acknowledged record, and how many were sent.
    """
    acked: dict[int, int] = {}
    failed: list[KafkaError] = []

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is None:
            acked[msg.offset()] = int(msg.value())
        else:
            failed.append(err)

    p = Producer({
        "bootstrap.servers": broker.bootstrap, "acks": 1, "enable.idempotence": False,
        "retries": 0, "linger.ms": 1, "batch.num.messages": 50, "message.timeout.ms": 10000,
    })
    sent = 0

    def send(n: int) -> None:
        nonlocal sent
        for _ in range(n):
            p.produce(topic, value=b"%d" % sent, on_delivery=delivered)
            sent += 1

    # Keep MAX_AHEAD records outstanding; once KILL_AFTER are acknowledged, top up once more
    # and kill -9 the broker straight away from this thread, so the kill lands while
    # librdkafka is still sending (a kill from another thread waits for the GIL, and a fast
    # broker can acknowledge everything outstanding meanwhile).
    deadline = time.monotonic() + 60
    while len(acked) < KILL_AFTER:
        assert time.monotonic() < deadline, f"only {len(acked)} acknowledged"
        assert not failed, failed[:3]
        send(MAX_AHEAD - (sent - len(acked)))
        p.poll(0.001)
    send(MAX_AHEAD - (sent - len(acked)))
    broker.kill()
    p.purge(in_queue=True, in_flight=False)
    assert p.flush(TIMEOUT) == 0
    assert len(acked) < sent, "every record was acknowledged before the kill"
    return dict(acked), sent


def tear_tail(partition_dir: Path, how: str) -> int:
    """Damage the end of the active segment as a crash mid-write can; return its new size.

    ``partial``: the first bytes of a batch whose header promises more. ``bad-crc``: a copy of
    the last batch, renumbered to follow it, with one payload byte flipped.
    """
    segment = max(partition_dir.glob("*.log"))
    data = segment.read_bytes()
    pos = last = 0
    while pos + 12 <= len(data):
        last = pos
        pos += 12 + struct.unpack_from(">i", data, pos + 8)[0]
    assert pos == len(data), "segment does not end on a batch boundary"
    if how == "partial":
        torn = struct.pack(">qiibI", 1 << 40, 4000, 0, 2, 0xDEADBEEF) + bytes(range(40))
    else:
        batch = bytearray(data[last:])
        base, = struct.unpack_from(">q", batch)
        last_delta, = struct.unpack_from(">i", batch, 23)
        struct.pack_into(">q", batch, 0, base + last_delta + 1)
        batch[-1] ^= 0xFF
        torn = bytes(batch)
    with open(segment, "ab") as f:
        f.write(torn)
    return segment.stat().st_size


def read_all(bootstrap: str, topic: str) -> list[Message]:
    msgs = consume(bootstrap, topic, timeout=60)
    assert [m.offset() for m in msgs] == list(range(len(msgs))), "offsets are not contiguous"
    return msgs


@pytest.mark.parametrize("how", ["partial", "bad-crc"])
def test_acked_records_survive_kill9_and_torn_tail(broker_factory: Any, how: str) -> None:
    broker = broker_factory()
    topic = "durable"
    create_topic(broker.bootstrap, topic)
    acked, sent = stream_until_killed(broker, topic)
    torn_size = tear_tail(broker.data_dir / f"{topic}-0", how)

    broker.start()
    msgs = read_all(broker.bootstrap, topic)
    values = [int(m.value()) for m in msgs]
    assert values == sorted(set(values)), "records duplicated or reordered"
    assert all(v < sent for v in values)
    lost = {o: v for o, v in acked.items() if o >= len(values) or values[o] != v}
    assert not lost, f"{len(lost)} acknowledged records lost or moved, e.g. {list(lost.items())[:5]}"
    assert len(values) >= max(acked) + 1
    segment = max((broker.data_dir / f"{topic}-0").glob("*.log"))
    assert segment.stat().st_size < torn_size, "torn tail was not truncated"

    c = consumer(broker.bootstrap)
    try:
        end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    finally:
        c.close()
    assert end == (0, len(values))
    more = produce(broker.bootstrap, topic, [Rec(value=b"after-%d" % i) for i in range(10)],
                   acks="all")
    assert [o for _, o in more] == list(range(len(values), len(values) + 10))
    tail = consume(broker.bootstrap, topic, offset=len(values))
    assert [(m.offset(), m.value()) for m in tail] == [
        (len(values) + i, b"after-%d" % i) for i in range(10)]


def test_clean_restart_keeps_everything_and_is_fast(broker_factory: Any) -> None:
    broker = broker_factory()
    topic = "clean-restart"
    create_topic(broker.bootstrap, topic, partitions=2)
    recs = [Rec(key=b"k%d" % i, value=b"v%d" % i, partition=i % 2,
                headers=[("i", b"%d" % i)]) for i in range(4000)]
    produce(broker.bootstrap, topic, recs, acks="all", **{"compression.type": "lz4"})

    t0 = time.monotonic()
    assert broker.stop() == 0, broker.output()[-3000:]
    stopped = time.monotonic() - t0
    t0 = time.monotonic()
    broker.start()
    md = admin(broker.bootstrap).list_topics(topic=topic, timeout=TIMEOUT)
    started = time.monotonic() - t0
    assert stopped < 10 and started < 10, (stopped, started)
    assert md.topics[topic].error is None and len(md.topics[topic].partitions) == 2

    for part in (0, 1):
        expected = [r for r in recs if r.partition == part]
        got = consume(broker.bootstrap, topic, partition=part)
        assert [(m.offset(), m.key(), m.value(), m.headers()) for m in got] == [
            (i, r.key, r.value, r.headers) for i, r in enumerate(expected)]
    assert produce(broker.bootstrap, topic, [Rec(value=b"next", partition=0)]) == [(0, 2000)]
