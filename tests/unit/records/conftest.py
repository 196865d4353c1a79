"""Fixtures for records tests: batches built by kafka-python, an independent implementation.

kafka-python does the record layout, batch header, CRC and xerial snappy framing itself, but
delegates snappy/lz4/zstd block compression to optional packages that are not installed here.
The ``kafka_python_batch`` fixture plugs cramjam in as those packages, so that batches built by
kafka-python's own builder can be produced with every codec. For gzip and for the snappy
framing the two implementations are fully independent; for lz4 and zstd the check covers the
batch layout around the compressed section.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace
from typing import Any

import cramjam
import kafka.codec
import kafka.record.default_records as default_records
import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

RecordTuple = tuple[bytes | None, bytes | None, Sequence[tuple[str, bytes | None]], int]


def _lz4_frame(payload: bytes) -> bytes:
    compressor = cramjam.lz4.Compressor(block_linked=False)
    compressor.compress(payload)
    return bytes(compressor.finish())


@pytest.fixture(name="kafka_python_batch")
def fixture_kafka_python_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., bytes]]:
    """Returns :func:`build_with_kafka_python`, with every codec available to it."""
    snappy_shim = SimpleNamespace(
        compress=lambda data: bytes(cramjam.snappy.compress_raw(bytes(data))),
        decompress=lambda data: bytes(cramjam.snappy.decompress_raw(bytes(data))),
    )
    monkeypatch.setattr(kafka.codec, "snappy", snappy_shim)
    monkeypatch.setattr(kafka.codec, "has_lz4", lambda: True)
    monkeypatch.setattr(kafka.codec, "has_zstd", lambda: True)
    monkeypatch.setattr(default_records, "lz4_encode", _lz4_frame)
    monkeypatch.setattr(
        default_records, "zstd_encode", lambda data: bytes(cramjam.zstd.compress(bytes(data)))
    )
    yield build_with_kafka_python


def build_with_kafka_python(
    records: Sequence[RecordTuple],
    *,
    compression: int = 0,
    base_offset: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    is_transactional: bool = False,
) -> bytes:
    """A batch from kafka-python's ``DefaultRecordBatchBuilder`` (offset deltas 0..n-1)."""
    builder: Any = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=int(is_transactional),
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        batch_size=1 << 24,
    )
    for offset_delta, (key, value, headers, timestamp) in enumerate(records):
        builder.append(offset_delta, timestamp, key, value, list(headers))
    data = bytearray(builder.build())
    if base_offset:
        data[0:8] = base_offset.to_bytes(8, "big", signed=True)
    return bytes(data)
