"""Lying batches from a raw-socket producer are refused with Kafka's codes, and a real
consumer then reads every valid record after them (none is stuck behind a stored bad batch).
Clients cannot write internal topics."""

from __future__ import annotations

import socket
import struct
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.records.batch import (
    ATTRIBUTES_OFFSET,
    MAX_TIMESTAMP_OFFSET,
    RECORDS_COUNT_OFFSET,
    write_crc,
)
from brook.records.compression import CompressionType
from brook.records.record import build_batch
from tests.support.wire import connect, read_frame, request, string

PRODUCE = 0
VERSION = 8  # the first version with record_errors and error_message

NONE = 0
CORRUPT_MESSAGE = 2
INVALID_TOPIC_EXCEPTION = 17
INVALID_TIMESTAMP = 32
INVALID_TXN_STATE = 48
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87


def _produce(sock: socket.socket, cid: int, topic: str, records: bytes,
             version: int = VERSION) -> tuple[int, list[int], str | None]:
    """Produce of one batch to partition 0: ``(error_code, record_error_indexes, message)``
    (only the code below v8)."""
    body = (string(None) + struct.pack(">hi", -1, 10_000) + struct.pack(">i", 1) + string(topic)
            + struct.pack(">ii", 1, 0) + struct.pack(">i", len(records)) + records)
    sock.sendall(request(PRODUCE, version, cid, body))
    resp = read_frame(sock, 15)
    assert resp is not None
    pos = 4 + 4 + 4  # size, correlation id, topic count
    (name_len,) = struct.unpack_from(">h", resp, pos)
    pos += 2 + name_len + 4  # name, partition count
    if version < 8:
        return struct.unpack_from(">ih", resp, pos)[1], [], None
    _, code, _, _, _, n_errors = struct.unpack_from(">ihqqqi", resp, pos)
    pos += 4 + 2 + 24 + 4
    indexes = []
    for _ in range(max(n_errors, 0)):
        (index, msg_len) = struct.unpack_from(">ih", resp, pos)
        indexes.append(index)
        pos += 6 + max(msg_len, 0)
    (msg_len,) = struct.unpack_from(">h", resp, pos)
    message = resp[pos + 2: pos + 2 + msg_len].decode() if msg_len >= 0 else None
    return code, indexes, message


def _patched(batch: bytearray, offset: int, fmt: str, value: int) -> bytearray:
    out = bytearray(batch)
    struct.pack_into(fmt, out, offset, value)
    write_crc(out, 0, len(out))
    return out


def _consume(bootstrap: str, topic: str) -> list[Any]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "validation-check",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    try:
        deadline = time.monotonic() + 30
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
    raise AssertionError("no end of partition within 30 s")


def test_lying_batches_are_refused_and_valid_ones_after_them_are_read(broker: Any) -> None:
    topic = "validation"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={
        "message.timestamp.before.max.ms": "3600000"})])[topic].result(15)
    now = int(time.time() * 1000)

    def valid(tag: str, codec: int = 0) -> bytearray:
        return build_batch([(b"k", f"{tag}-{i}".encode(), (), now + i) for i in range(3)],
                           compression=codec)

    garbage = bytearray(valid("g")[:61]) + bytes(range(200, 250))
    struct.pack_into(">i", garbage, 8, len(garbage) - 12)
    write_crc(garbage, 0, len(garbage))
    zstd_garbage = bytearray(valid("z", 4)[:61]) + b"\x28\xb5\x2f\xfd" + bytes(40)
    struct.pack_into(">i", zstd_garbage, 8, len(zstd_garbage) - 12)
    write_crc(zstd_garbage, 0, len(zstd_garbage))
    old_middle = build_batch([(b"k", b"a", (), now), (b"k", b"b", (), now - 86_400_000),
                              (b"k", b"c", (), now)])
    bad_crc = valid("crc")
    bad_crc[-1] ^= 0xFF  # changed after the CRC was computed
    lying = [
        (_patched(_patched(valid("c"), RECORDS_COUNT_OFFSET, ">i", 4), 23, ">i", 3), INVALID_RECORD),
        (garbage, INVALID_RECORD),
        (zstd_garbage, INVALID_RECORD),
        (_patched(valid("u"), ATTRIBUTES_OFFSET, ">h", 7), UNSUPPORTED_COMPRESSION_TYPE),
        (old_middle, INVALID_TIMESTAMP),
        (build_batch([(b"k", b"t", (), now)], producer_id=1, producer_epoch=0, base_sequence=0,
                     is_transactional=True), INVALID_TXN_STATE),
        (bad_crc, CORRUPT_MESSAGE),
    ]

    expected: list[bytes] = []
    with connect(broker.port) as sock:
        cid = 1
        for bad, code in lying:
            got, indexes, message = _produce(sock, cid, topic, bytes(bad))
            assert got == code, (code, got, message)
            assert message
            if code == INVALID_TIMESTAMP:
                assert indexes == [1]
            cid += 1
            good = valid(f"after-{cid}", CompressionType.LZ4 if cid % 2 else 0)
            assert _produce(sock, cid, topic, bytes(good))[0] == NONE
            expected += [f"after-{cid}-{i}".encode() for i in range(3)]
            cid += 1
        # A maxTimestamp from year 2286 is accepted but replaced by the records' own.
        assert _produce(sock, cid, topic, bytes(_patched(valid("ts"), MAX_TIMESTAMP_OFFSET, ">q",
                                                         9_999_999_999_999)))[0] == NONE
        expected += [f"ts-{i}".encode() for i in range(3)]

    records = _consume(broker.bootstrap, topic)
    assert [m.value() for m in records] == expected
    assert max(m.timestamp()[1] for m in records) < now + 60_000


def test_clients_cannot_produce_to_internal_topics(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.list_topics(timeout=10)
    batch = build_batch([(b"forged-key", b"forged-value", (), int(time.time() * 1000))])
    with connect(broker.port) as sock:
        code, _, message = _produce(sock, 1, "__consumer_offsets", bytes(batch))
    assert code == INVALID_TOPIC_EXCEPTION
    assert message and "internal topic" in message


def test_large_compressed_batches_validated_off_loop_keep_their_order(broker: Any) -> None:
    """Batches of thousands of records (validated in a worker thread) and small ones (on the
    loop) from one idempotent producer, pipelined: every record stored once, in order."""
    from confluent_kafka import Producer

    topic = "validation-order"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    p = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": "zstd",
                  "enable.idempotence": True, "linger.ms": 20, "batch.num.messages": 5000,
                  "max.in.flight.requests.per.connection": 5})
    errors: list[Any] = []
    sent = []
    for i in range(40_000):
        value = f"{i:08d}".encode()
        sent.append(value)
        p.produce(topic, value, on_delivery=lambda e, m: errors.append(e) if e else None)
        if i % 9_000 == 0:
            p.flush(20)  # a few small batches in between
        if i % 500 == 0:
            p.poll(0)
    assert p.flush(60) == 0
    assert errors == []
    assert [m.value() for m in _consume(broker.bootstrap, topic)] == sent


def test_zstd_before_produce_v7_is_refused(broker: Any) -> None:
    topic = "validation-zstd"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    now = int(time.time() * 1000)
    zstd = build_batch([(b"k", b"v", (), now)], compression=CompressionType.ZSTD)
    with connect(broker.port) as sock:
        assert _produce(sock, 1, topic, bytes(zstd), version=6)[0] == UNSUPPORTED_COMPRESSION_TYPE
        assert _produce(sock, 2, topic, bytes(zstd), version=7)[0] == NONE


def test_pipelined_request_after_an_off_loop_one_is_appended_after_it(broker: Any) -> None:
    """A large zstd batch (validated in a worker thread) then, without waiting, a small
    uncompressed one on the same connection: the second gets the offsets after the first."""
    topic = "validation-pipelined"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)
    now = int(time.time() * 1000)
    large = build_batch([(b"k", b"%d" % i, (), now) for i in range(5_000)],
                        compression=CompressionType.ZSTD)
    small = build_batch([(b"k", b"small", (), now)])

    def body(records: bytes) -> bytes:
        return (string(None) + struct.pack(">hi", -1, 10_000) + struct.pack(">i", 1)
                + string(topic) + struct.pack(">ii", 1, 0) + struct.pack(">i", len(records))
                + records)

    with connect(broker.port) as sock:
        sock.sendall(request(PRODUCE, 7, 1, body(bytes(large)))
                     + request(PRODUCE, 7, 2, body(bytes(small))))
        offsets = []
        for _ in range(2):
            resp = read_frame(sock, 15)
            assert resp is not None
            pos = 4 + 4 + 4
            (name_len,) = struct.unpack_from(">h", resp, pos)
            pos += 2 + name_len + 4
            _, code, base_offset = struct.unpack_from(">ihq", resp, pos)
            assert code == NONE
            offsets.append(base_offset)
    assert offsets == [0, 5_000]
