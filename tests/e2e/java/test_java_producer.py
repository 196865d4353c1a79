"""The Java producer (kafka-clients 4.3.1) against brook: its defaults (idempotence on,
acks=all), every compression codec, keys, headers and timestamps read back by the Java
consumer, five requests in flight in order, and a broker restart under a running producer
that loses and duplicates nothing.

``JProduce`` prints each ack as ``{"seq", "partition", "offset", "timestamp"}`` (record ``seq``
has key ``key-<seq>``, headers ``seq``/``empty``/``nothing`` and timestamp
``1700000000000 + seq``); ``JConsume`` prints every record of a topic from the beginning.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from brook.records.batch import iter_batches
from brook.records.compression import CompressionType
from tests.support.brokers import BrokerProcess
from tests.support.ck import create_topic, unique_topic
from tests.support.java_programs import JavaProgram, run_json

pytestmark = pytest.mark.timeout(240)

BASE_TS = 1_700_000_000_000


def _acks(lines: list[dict[str, Any]], count: int) -> dict[int, tuple[int, int]]:
    """``seq -> (partition, offset)``, after checking every record was acked exactly once."""
    errors = [line for line in lines if "error" in line]
    assert not errors, errors[:5]
    acks = [line for line in lines if "seq" in line]
    assert sorted(line["seq"] for line in acks) == list(range(count))
    assert lines[-1]["done"] == count
    return {line["seq"]: (line["partition"], line["offset"]) for line in acks}


def _consume(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    lines = run_json("JConsume", bootstrap, topic, str(count), "60000")
    assert lines[-1] == {"count": count}
    return lines[:-1]


def _batches(broker: BrokerProcess, topic: str, partition: int) -> list[Any]:
    """The batch headers of a partition's log as brook stored them."""
    headers = []
    for segment in sorted((broker.data_dir / f"{topic}-{partition}").glob("*.log")):
        headers += [h for _, h in iter_batches(segment.read_bytes())]
    return headers


def _check_idempotent_batches(headers: list[Any]) -> None:
    """One producer id, epoch 0, sequences contiguous from 0: what idempotence writes."""
    assert headers
    assert {(h.producer_id, h.producer_epoch) for h in headers} == {
        (headers[0].producer_id, 0)}
    assert headers[0].producer_id >= 0
    expected = 0
    for h in headers:
        assert h.base_sequence == expected
        expected += h.last_offset_delta + 1


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_round_trips_keys_headers_and_timestamps(
    broker: BrokerProcess, codec: str,
) -> None:
    topic, count = unique_topic(f"jp-{codec}"), 300
    create_topic(broker.bootstrap, topic, partitions=3)
    lines = run_json("JProduce", broker.bootstrap, topic, str(count),
                     f"compression.type={codec}", "linger.ms=20", "x.value.bytes=300")
    acks = _acks(lines, count)
    records = _consume(broker.bootstrap, topic, count)
    by_position = {(r["partition"], r["offset"]): r for r in records}
    assert len(by_position) == count
    for seq, position in acks.items():
        r = by_position[position]
        assert r["key"] == f"key-{seq}"
        assert r["value"].startswith(f"value-{seq} ") and len(r["value"]) >= 300
        assert r["headers"] == [["seq", str(seq)], ["empty", ""], ["nothing", None]]
        assert (r["timestamp"], r["timestampType"]) == (BASE_TS + seq, "CreateTime")
    for partition in range(3):
        headers = _batches(broker, topic, partition)
        assert {h.compression for h in headers} == {CompressionType[codec.upper()].value}
        _check_idempotent_batches(headers)
    # Keys were spread by the default partitioner, each partition in send order.
    per_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for seq, (partition, offset) in sorted(acks.items()):
        per_partition[partition].append((offset, seq))
    assert len(per_partition) == 3
    for pairs in per_partition.values():
        assert pairs == sorted(pairs) and [o for o, _ in pairs] == list(range(len(pairs)))


def test_five_requests_in_flight_keep_their_order(broker: BrokerProcess) -> None:
    """Small batches, no linger, five in flight per connection: offsets follow the send order."""
    topic, count = unique_topic("jp-inflight"), 4000
    create_topic(broker.bootstrap, topic)
    lines = run_json("JProduce", broker.bootstrap, topic, str(count), "x.partition=0",
                     "max.in.flight.requests.per.connection=5", "batch.size=512",
                     "linger.ms=0", "x.value.bytes=100")
    acks = _acks(lines, count)
    assert [acks[seq] for seq in range(count)] == [(0, seq) for seq in range(count)]
    headers = _batches(broker, topic, 0)
    assert len(headers) > 50, "expected many small batches"
    _check_idempotent_batches(headers)
    records = _consume(broker.bootstrap, topic, count)
    assert [r["key"] for r in records] == [f"key-{seq}" for seq in range(count)]


@pytest.mark.parametrize("how", ["restart", pytest.param("kill -9", marks=pytest.mark.slow)])
def test_broker_restart_under_a_running_producer_loses_and_duplicates_nothing(
    broker_factory: Any, how: str, tmp_path: Path,
) -> None:
    b: BrokerProcess = broker_factory()
    topic, count = unique_topic("jp-restart"), 3000
    create_topic(b.bootstrap, topic)
    producer = JavaProgram("JProduce", b.bootstrap, topic, str(count), "x.partition=0",
                           "x.pace.ms=2", "batch.size=2048", "linger.ms=5")
    try:
        producer.wait_for(lambda line: line.get("seq", -1) >= 500, "500 acks", timeout=90)
        if how == "restart":
            assert b.stop() == 0
        else:
            b.kill()
        acked_while_down = len(producer.lines)
        b.start()
        producer.wait_for(lambda line: "done" in line, "the producer's end", timeout=150)
        assert producer.close() == 0, producer.output()
    finally:
        producer.kill()
    assert acked_while_down < count, "the producer had finished before the broker stopped"
    acks = _acks(producer.lines, count)
    assert [acks[seq] for seq in range(count)] == [(0, seq) for seq in range(count)]
    records = _consume(b.bootstrap, topic, count)
    assert [r["key"] for r in records] == [f"key-{seq}" for seq in range(count)]
    assert [r["offset"] for r in records] == list(range(count))
    _check_idempotent_batches(_batches(b, topic, 0))
