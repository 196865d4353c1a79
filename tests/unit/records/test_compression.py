from __future__ import annotations

import gzip
import os
import struct

import cramjam
import kafka.codec
import pytest

from brook.records.compression import XERIAL_MAGIC, CompressionType, compress, decompress
from brook.records.errors import CorruptRecordError, InvalidRecordError

CODECS = list(CompressionType)
PAYLOADS = [b"", b"x", b"hello kafka " * 1000, os.urandom(100_000)]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("payload", PAYLOADS, ids=["empty", "one", "repetitive", "random"])
def test_round_trip(codec: CompressionType, payload: bytes) -> None:
    compressed = compress(codec, payload)
    assert decompress(codec, compressed) == payload
    assert decompress(codec, memoryview(bytearray(compressed))) == payload


def test_config_names() -> None:
    assert [c.config_name for c in CompressionType] == [
        "uncompressed",
        "gzip",
        "snappy",
        "lz4",
        "zstd",
    ]


def test_gzip_is_a_standard_gzip_stream() -> None:
    payload = b"abc" * 500
    assert gzip.decompress(compress(CompressionType.GZIP, payload)) == payload


def test_gzip_concatenated_members() -> None:
    assert (
        decompress(CompressionType.GZIP, gzip.compress(b"one") + gzip.compress(b"two")) == b"onetwo"
    )


def test_snappy_writes_xerial_framing(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = os.urandom(70_000) + b"z" * 70_000
    framed = compress(CompressionType.SNAPPY, payload)
    assert framed[:16] == XERIAL_MAGIC + struct.pack(">ii", 1, 1)
    # kafka-python's own xerial parser, with cramjam standing in for python-snappy's raw codec.
    shim = type(
        "Shim",
        (),
        {"decompress": staticmethod(lambda d: bytes(cramjam.snappy.decompress_raw(bytes(d))))},
    )
    monkeypatch.setattr(kafka.codec, "snappy", shim)
    assert kafka.codec.snappy_decode(framed) == payload


def test_snappy_reads_raw_blocks_as_librdkafka_writes_them() -> None:
    payload = b"librdkafka " * 300
    assert (
        decompress(CompressionType.SNAPPY, bytes(cramjam.snappy.compress_raw(payload))) == payload
    )


def test_lz4_frame_has_independent_blocks() -> None:
    frame = compress(CompressionType.LZ4, b"data" * 100_000)
    assert frame[:4] == b"\x04\x22\x4d\x18"
    flags = frame[4]
    assert flags >> 6 == 1  # version 01
    assert flags & 0x20  # block independence: Kafka's Java decoder rejects linked blocks


@pytest.mark.parametrize("codec", CODECS[1:], ids=lambda c: c.name)
def test_decompression_is_bounded(codec: CompressionType) -> None:
    bomb = compress(codec, b"\x00" * 5_000_000)
    assert len(bomb) < 300_000
    with pytest.raises(InvalidRecordError):
        decompress(codec, bomb, max_size=1_000_000)
    assert len(decompress(codec, bomb, max_size=5_000_000)) == 5_000_000


@pytest.mark.parametrize("codec", CODECS[1:], ids=lambda c: c.name)
def test_corrupt_input_raises_corrupt_record(codec: CompressionType) -> None:
    compressed = compress(codec, os.urandom(5000))
    with pytest.raises(CorruptRecordError):
        decompress(codec, compressed[: len(compressed) // 2])
    with pytest.raises(CorruptRecordError):
        decompress(codec, b"\x12\x34garbage that is not compressed at all")


def test_truncated_xerial_block() -> None:
    framed = compress(CompressionType.SNAPPY, b"abc" * 1000)
    with pytest.raises(CorruptRecordError):
        decompress(CompressionType.SNAPPY, framed[:18])
    with pytest.raises(CorruptRecordError):
        decompress(CompressionType.SNAPPY, framed[:-3])


def test_unknown_codec() -> None:
    with pytest.raises(InvalidRecordError):
        compress(5, b"x")
    with pytest.raises(InvalidRecordError):
        decompress(7, b"x")
