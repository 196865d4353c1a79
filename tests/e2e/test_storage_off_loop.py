"""Rolls, DeleteRecords, restarts and reads of old segments through a real broker, now that
their file work runs in worker threads: nothing is lost, reordered or left behind."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

from tests.support.ck import TIMEOUT, Rec, admin, consume, consumer, create_topic, produce

pytestmark = pytest.mark.timeout(120)


def test_small_segments_delete_records_and_restart(broker_factory: Any) -> None:
    broker = broker_factory()
    topic = "off-loop"
    create_topic(broker.bootstrap, topic, config={"segment.bytes": "16384"})
    recs = [Rec(value=b"%06d" % i + b"." * 200) for i in range(3000)]
    produce(broker.bootstrap, topic, recs, acks="all",
            **{"enable.idempotence": True, "batch.size": 4096})
    partition_dir = broker.data_dir / f"{topic}-0"
    assert len(list(partition_dir.glob("*.log"))) > 20

    a = admin(broker.bootstrap)
    result = a.delete_records([TopicPartition(topic, 0, 1000)], request_timeout=TIMEOUT)
    low = result[TopicPartition(topic, 0, 1000)].result(timeout=TIMEOUT)
    assert low.low_watermark == 1000
    first_base = min(int(p.stem) for p in partition_dir.glob("*.log"))
    assert 900 < first_base <= 1000  # the segments wholly below were removed

    assert broker.stop() == 0
    broker.start()  # old segments now open cold: their indexes load off the event loop
    values = [m.value()[:6] for m in consume(broker.bootstrap, topic, offset=1000, count=2000)]
    assert values == [b"%06d" % i for i in range(1000, 3000)]
    mid = consume(broker.bootstrap, topic, offset=1700, count=3)
    assert [m.offset() for m in mid] == [1700, 1701, 1702]
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT) == (1000, 3000)
    finally:
        c.close()
