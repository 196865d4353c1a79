"""Topic ``compression.type`` is applied: what a real producer sends uncompressed is stored
(on disk) in the topic's codec, and a real consumer reads it back unchanged."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.records.batch import iter_batches


def _stored_codecs(data_dir: Path, topic: str) -> set[int]:
    segments = list(data_dir.rglob(f"{topic}-0/*.log"))
    assert segments, f"no segment for {topic} under {data_dir}"
    return {h.compression for seg in segments for _, h in iter_batches(seg.read_bytes())}


@pytest.mark.parametrize(("topic_codec", "producer_codec", "stored"),
                         [("zstd", "none", {4}), ("uncompressed", "lz4", {0}),
                          ("producer", "gzip", {1})])
def test_compression_type_applied(broker: Any, topic_codec: str, producer_codec: str,
                                  stored: set[int]) -> None:
    topic = f"codec-{topic_codec}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": topic_codec})])[
        topic].result(15)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": producer_codec,
                  "linger.ms": 5})
    values = [f"value {i} ".encode() * 20 for i in range(500)]
    for v in values:
        p.produce(topic, v, key=b"k")
    assert p.flush(20) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "codec",
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise AssertionError(m.error())
            got.append(m.value())
    finally:
        c.close()
    assert got == values
    assert _stored_codecs(broker.data_dir, topic) == stored
