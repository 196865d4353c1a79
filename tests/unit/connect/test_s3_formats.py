"""Formats read back with the libraries users read them with; object keys are Confluent's."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import fastavro
import pyarrow.parquet as pq

from brook.connect.api import SinkRecord, TopicPartition
from brook.connect.connectors.s3.formats import make_format
from brook.connect.connectors.s3.partitioner import make_partitioner
from brook.connect.connectors.s3.writer import TopicPartitionWriter

PKG = "io.confluent.connect.s3.format."


def recs(values: list[Any], schema: Any = None) -> list[SinkRecord]:
    return [SinkRecord(topic="t", kafka_partition=0, key=None, value=v, value_schema=schema,
                       kafka_offset=i) for i, v in enumerate(values)]


def test_json_lines_and_gzip() -> None:
    fmt = make_format({"format.class": PKG + "json.JsonFormat"})
    assert fmt.encode(recs(["he said \"hi\"", {"a": 1}])) == b'"he said \\"hi\\""\n{"a":1}\n'
    gz = make_format({"format.class": PKG + "json.JsonFormat", "s3.compression.type": "gzip"})
    assert gz.file_extension() == ".json.gz"
    assert gzip.decompress(gz.encode(recs([1]))) == b"1\n"


def test_avro_reads_back_with_fastavro() -> None:
    schema = {"type": "struct", "name": "com.example.Order", "fields": [
        {"field": "id", "type": "int64"}, {"field": "note", "type": "string", "optional": True}]}
    fmt = make_format({"format.class": PKG + "avro.AvroFormat"})
    data = fmt.encode(recs([{"id": 1, "note": "a"}, {"id": 2, "note": None}], schema))
    assert fmt.file_extension() == ".avro"
    assert list(fastavro.reader(io.BytesIO(data))) == [{"id": 1, "note": "a"}, {"id": 2, "note": None}]
    inferred = fmt.encode(recs([{"x": 1.5, "tags": ["a"]}]))
    assert list(fastavro.reader(io.BytesIO(inferred))) == [{"x": 1.5, "tags": ["a"]}]


def test_parquet_reads_back_with_pyarrow() -> None:
    fmt = make_format({"format.class": PKG + "parquet.ParquetFormat"})
    assert fmt.file_extension() == ".snappy.parquet"
    data = fmt.encode(recs([{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]))
    assert pq.read_table(io.BytesIO(data)).to_pylist() == [{"id": 1, "name": "x"},
                                                           {"id": 2, "name": "y"}]


def test_bytearray() -> None:
    fmt = make_format({"format.class": PKG + "bytearray.ByteArrayFormat"})
    assert fmt.file_extension() == ".bin"
    assert fmt.encode(recs([b"\x00", "a"])) == b"\x00\na\n"


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data


def test_writer_cuts_deterministic_objects_and_commits_after_writing() -> None:
    config = {"flush.size": 2, "topics.dir": "out/dir", "format.class": PKG + "json.JsonFormat"}
    store = FakeStore()
    w = TopicPartitionWriter(TopicPartition("t", 3), config, make_partitioner(config),
                             make_format(config), store, lambda r: 0, lambda: 0)  # type: ignore[arg-type]
    for i in range(5):
        w.write(SinkRecord(topic="t", kafka_partition=3, key=None, value={"i": i},
                           kafka_offset=10 + i))
    assert sorted(store.objects) == ["out/dir/t/partition=3/t+3+0000000010.json",
                                     "out/dir/t/partition=3/t+3+0000000012.json"]
    assert w.offset_to_commit == 14  # offset 14 is buffered only, so it is not committed
    assert [json.loads(x) for x in store.objects[
        "out/dir/t/partition=3/t+3+0000000012.json"].splitlines()] == [{"i": 2}, {"i": 3}]
