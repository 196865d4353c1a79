"""A compacted topic through the broker: keyless records refused, the background cleaner keeps
the latest value per key at its original offset, tombstones included until their retention."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def _consume_all(bootstrap: str, topic: str) -> list[Any]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "compaction-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError(m.error())
            out.append(m)
    finally:
        c.close()
    raise AssertionError("no end of partition within 20 s")


def test_compaction_end_to_end(broker_factory: Any) -> None:
    b = broker_factory(**{"log.cleaner.backoff.ms": "100"})
    topic = "compacted"
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "cleanup.policy": "compact", "segment.bytes": "2000",
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "86400000",
    })])[topic].result(15)

    errors: list[KafkaError] = []
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 0})
    p.produce(topic, b"no key", on_delivery=lambda e, m: errors.append(e))
    p.flush(10)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.INVALID_RECORD

    latest: dict[bytes, tuple[int, bytes | None]] = {}

    def remember(err: KafkaError | None, msg: Any) -> None:
        assert err is None, err
        latest[msg.key()] = (msg.offset(), msg.value())

    for round_ in range(100):
        for k in range(5):
            p.produce(topic, f"v{round_}".encode(), key=f"k{k}".encode(), on_delivery=remember)
        p.flush(10)
    p.produce(topic, None, key=b"k0", on_delivery=remember)  # a tombstone for k0
    for k in range(1, 5):  # a few more so the tombstone's segment is no longer active
        p.produce(topic, b"last", key=f"k{k}".encode(), on_delivery=remember)
    p.flush(10)
    written = 100 * 5 + 5

    deadline = time.monotonic() + 30
    while True:
        records = _consume_all(b.bootstrap, topic)
        if len(records) < written // 4 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert len(records) < written // 4, f"not compacted: {len(records)} records remain"
    offsets = [m.offset() for m in records]
    assert offsets == sorted(offsets)
    seen: dict[bytes, tuple[int, bytes | None]] = {}
    for m in records:
        seen[m.key()] = (m.offset(), m.value())
    # Every key's latest value is there, at the offset it was written at.
    assert seen == latest
    assert seen[b"k0"][1] is None  # the tombstone stays within delete.retention.ms
