"""Produce rules Kafka enforces on the request itself, checked from a raw socket against a real
broker: one record batch per partition (Produce v3+), and a produce with acks=0 that fails
closes the connection (the only way such a producer learns of the error)."""

from __future__ import annotations

import struct
import time
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from brook.records.record import build_batch
from tests.e2e.test_produce_validation import INVALID_RECORD, NONE, _consume, _produce
from tests.support.wire import (
    api_versions_v0,
    connect,
    read_frame,
    read_to_eof,
    request,
    string,
)

PRODUCE = 0


def _topic(broker: Any, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(15)


def _batch(tag: str) -> bytes:
    now = int(time.time() * 1000)
    return bytes(build_batch([(b"k", f"{tag}-{i}".encode(), (), now + i) for i in range(3)]))


def _acks0(topic: str, records: bytes, cid: int) -> bytes:
    body = (string(None) + struct.pack(">hi", 0, 10_000) + struct.pack(">i", 1) + string(topic)
            + struct.pack(">ii", 1, 0) + struct.pack(">i", len(records)) + records)
    return request(PRODUCE, 8, cid, body)


def test_two_batches_for_one_partition_are_refused_whole(broker: Any) -> None:
    topic = "wire-two-batches"
    _topic(broker, topic)
    with connect(broker.port) as sock:
        code, _, message = _produce(sock, 1, topic, _batch("a") + _batch("b"))
        assert code == INVALID_RECORD, (code, message)
        assert message and "one record batch" in message
        # One batch followed by a partial one: the partial tail is trimmed, as Kafka does.
        assert _produce(sock, 2, topic, _batch("c") + _batch("d")[:30])[0] == NONE
    assert [m.value() for m in _consume(broker.bootstrap, topic)] == [
        b"c-0", b"c-1", b"c-2"]


def test_failed_acks0_produce_closes_the_connection(broker: Any) -> None:
    topic = "wire-acks0"
    _topic(broker, topic)
    bad = bytearray(_batch("bad"))
    bad[-1] ^= 0xFF  # CRC no longer matches
    with connect(broker.port) as sock:
        sock.sendall(_acks0(topic, _batch("ok"), 1) + api_versions_v0(2))
        assert read_frame(sock, 10) is not None  # a good acks=0 produce keeps it open
        sock.sendall(_acks0(topic, bytes(bad), 3))
        assert read_to_eof(sock, 10) == b""
    with connect(broker.port) as sock:
        sock.sendall(_acks0("wire-acks0-no-such-topic", _batch("x"), 1))
        assert read_to_eof(sock, 10) == b""
    assert [m.value() for m in _consume(broker.bootstrap, topic)] == [
        b"ok-0", b"ok-1", b"ok-2"]
