"""Formats read back with the libraries users read them with; object keys are Confluent's."""

from __future__ import annotations

import bz2
import gzip
import io
import json
from typing import Any

import fastavro
import fastavro.read
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brook.connect.api import DataException, SinkRecord, TopicPartition
from brook.connect.connectors.s3.formats import make_format
from brook.connect.connectors.s3.partitioner import make_partitioner
from brook.connect.connectors.s3.schemas import Schema
from brook.connect.connectors.s3.writer import TopicPartitionWriter

PKG = "io.confluent.connect.s3.format."
AVRO = PKG + "avro.AvroFormat"
PARQUET = PKG + "parquet.ParquetFormat"
JSON = PKG + "json.JsonFormat"


def items(values: list[Any], schema: Schema | None = None) -> list[tuple[Schema | None, Any]]:
    return [(schema, v) for v in values]


def avro_read(data: bytes) -> tuple[dict[str, Any], list[Any]]:
    reader = fastavro.reader(io.BytesIO(data))
    return reader.writer_schema, list(reader)  # type: ignore[return-value]


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = data


def writer(config: dict[str, Any], now: list[int] | None = None,
           tp: TopicPartition = TopicPartition("t", 0)) -> tuple[TopicPartitionWriter, FakeStore]:
    config = {"flush.size": 100, **config}
    store = FakeStore()
    clock = now if now is not None else [0]
    keys = make_format(config, "keys.format.class") if config.get("store.kafka.keys") else None
    headers = make_format(config, "headers.format.class") if config.get(
        "store.kafka.headers") else None
    partitioner = make_partitioner(config)
    w = TopicPartitionWriter(tp, config, partitioner, make_format(config), store,  # type: ignore[arg-type]
                             getattr(partitioner, "timestamp", lambda r: 0), lambda: clock[0],
                             keys, headers)
    return w, store


def rec(value: Any, offset: int, schema: Schema | None = None, **kw: Any) -> SinkRecord:
    return SinkRecord(topic="t", kafka_partition=0, key=kw.pop("key", None), value=value,
                      value_schema=schema, kafka_offset=offset, **kw)


def test_json_lines_and_gzip() -> None:
    fmt = make_format({"format.class": JSON})
    assert fmt.encode(items(["he said \"hi\"", {"a": 1}])) == b'"he said \\"hi\\""\n{"a":1}\n'
    gz = make_format({"format.class": JSON, "s3.compression.type": "gzip"})
    assert gz.file_extension() == ".json.gz"
    assert gzip.decompress(gz.encode(items([1]))) == b"1\n"


ORDER = {"type": "struct", "name": "com.example.Order", "optional": False, "fields": [
    {"field": "id", "type": "int64", "optional": False},
    {"field": "qty", "type": "int32", "optional": False},
    {"field": "small", "type": "int8", "optional": False},
    {"field": "note", "type": "string", "optional": True},
    {"field": "at", "type": "int64", "optional": True,
     "name": "org.apache.kafka.connect.data.Timestamp", "version": 1}]}


def test_avro_keeps_the_record_namespace_and_the_connect_types() -> None:
    fmt = make_format({"format.class": AVRO})
    data = fmt.encode(items([{"id": 1, "qty": 2, "small": 3, "note": "a", "at": 1000},
                             {"id": 2, "qty": 4, "small": 5, "note": None, "at": None}], ORDER))
    schema, rows = avro_read(data)
    assert schema["name"] == "com.example.Order"  # AvroData: namespace com.example, name Order
    assert schema["connect.name"] == "com.example.Order"
    assert [r["id"] for r in rows] == [1, 2] and rows[1]["note"] is None
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types["qty"] == "int" and types["id"] == "long"
    assert types["small"] == {"type": "int", "connect.type": "int8"}
    assert types["at"][1]["logicalType"] == "timestamp-millis"
    unnamed, _ = avro_read(fmt.encode(items([{"x": 1.5, "tags": ["a"], "in": {"y": 1}}])))
    assert unnamed["name"] == "io.confluent.connect.avro.ConnectDefault"
    assert unnamed["fields"][2]["type"]["name"] == "io.confluent.connect.avro.ConnectDefault2"


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy", "bzip2", "xz", "zstandard"])
def test_every_avro_codec_confluent_offers(codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import zstandard

    # fastavro reads zstandard only with backports.zstd; read it with the zstandard package.
    def read_zstd(fo: Any) -> io.BytesIO:
        shift = size = 0
        while True:
            b = fo.read(1)[0]
            size |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        data = fo.read((size >> 1) ^ -(size & 1))
        return io.BytesIO(zstandard.ZstdDecompressor().decompressobj().decompress(data))
    monkeypatch.setitem(fastavro.read.BLOCK_READERS, "zstandard", read_zstd)
    fmt = make_format({"format.class": AVRO, "avro.codec": codec})
    values = [{"id": i, "qty": i, "small": 1, "note": "x" * i, "at": None} for i in range(50)]
    data = fmt.encode(items(values, ORDER))
    reader = fastavro.reader(io.BytesIO(data))
    assert reader.metadata["avro.codec"] == codec
    assert list(reader) == values
    assert fmt.encode(items(values, ORDER)) == data  # same records, same bytes


def test_parquet_writes_the_connect_schema() -> None:
    fmt = make_format({"format.class": PARQUET})
    assert fmt.file_extension() == ".snappy.parquet"
    data = fmt.encode(items([{"id": 1, "qty": 2, "small": 3, "note": None, "at": 1000}], ORDER))
    f = pq.ParquetFile(io.BytesIO(data))
    arrow = f.schema_arrow
    assert arrow.field("qty").type == pa.int32() and arrow.field("small").type == pa.int32()
    assert arrow.field("id").type == pa.int64()
    assert not arrow.field("id").nullable and arrow.field("note").nullable
    assert arrow.field("at").type == pa.timestamp("ms", tz="UTC")
    assert f.schema.column(1).physical_type == "INT32"
    assert f.schema.column(1).max_definition_level == 0  # required, as the schema says
    avro = json.loads(f.metadata.metadata[b"parquet.avro.schema"])
    assert avro["name"] == "Order" and avro["namespace"] == "com.example"
    with pytest.raises(DataException, match="null used for required field"):
        fmt.encode(items([{"id": None, "qty": 1, "small": 1}], ORDER))


@pytest.mark.parametrize("codec,ext", [("none", ".parquet"), ("gzip", ".gz.parquet"),
                                       ("brotli", ".br.parquet"), ("zstd", ".zstd.parquet"),
                                       ("lz4", ".lz4hadoop.parquet"),
                                       ("lz4_raw", ".lz4raw.parquet")])
def test_parquet_extension_per_codec(codec: str, ext: str) -> None:
    fmt = make_format({"format.class": PARQUET, "parquet.codec": codec})
    assert fmt.file_extension() == ext
    data = fmt.encode(items([{"id": 1, "qty": 2, "small": 3}], ORDER))
    assert pq.read_table(io.BytesIO(data)).to_pylist()[0]["qty"] == 2


def test_bytearray_writes_bytes_and_refuses_anything_else() -> None:
    fmt = make_format({"format.class": PKG + "bytearray.ByteArrayFormat"})
    assert fmt.file_extension() == ".bin"
    assert fmt.encode(items([b"\x00", b"a"])) == b"\x00\na\n"
    for bad in ("text", {"a": 1}, 5):
        with pytest.raises(DataException, match="ByteArrayConverter is not compatible"):
            fmt.encode(items([bad]))


def test_writer_cuts_deterministic_objects_and_commits_after_writing() -> None:
    w, store = writer({"flush.size": 2, "topics.dir": "out/dir", "format.class": JSON},
                      tp=TopicPartition("t", 3))
    for i in range(5):
        w.write(SinkRecord(topic="t", kafka_partition=3, key=None, value={"i": i},
                           kafka_offset=10 + i))
    assert sorted(store.objects) == ["out/dir/t/partition=3/t+3+0000000010.json",
                                     "out/dir/t/partition=3/t+3+0000000012.json"]
    assert w.offset_to_commit == 14  # offset 14 is buffered only, so it is not committed
    assert [json.loads(x) for x in store.objects[
        "out/dir/t/partition=3/t+3+0000000012.json"].splitlines()] == [{"i": 2}, {"i": 3}]


V1 = {"type": "struct", "name": "com.example.V", "optional": False, "version": 1, "fields": [
    {"field": "a", "type": "int32", "optional": False}]}
V2 = {**V1, "version": 2, "fields": [*V1["fields"],  # type: ignore[list-item]
                                     {"field": "b", "type": "string", "optional": True}]}


@pytest.mark.parametrize("fmt", [AVRO, PARQUET])
def test_a_schema_change_starts_a_new_file(fmt: str) -> None:
    w, store = writer({"format.class": fmt})
    w.write(rec({"a": 1}, 0, V1))
    w.write(rec({"a": 2}, 1, V1))
    w.write(rec({"a": 3, "b": "new"}, 2, V2))  # commits offsets 0-1 first
    assert w.offset_to_commit == 2
    w.write(rec({"a": 4}, 3, V1))  # back to V1: another file
    w.commit()
    keys = sorted(store.objects)
    assert [k.rsplit("+", 1)[1].split(".")[0] for k in keys] == [
        "0000000000", "0000000002", "0000000003"]
    if fmt == AVRO:
        rows = [avro_read(store.objects[k])[1] for k in keys]
    else:
        rows = [pq.read_table(io.BytesIO(store.objects[k])).to_pylist() for k in keys]
    assert rows == [[{"a": 1}, {"a": 2}], [{"a": 3, "b": "new"}], [{"a": 4}]]


@pytest.mark.parametrize("fmt", [AVRO, PARQUET])
def test_uneven_schemaless_records_lose_no_field(fmt: str) -> None:
    w, store = writer({"format.class": fmt})
    for i, v in enumerate([{"a": 1}, {"a": 2}, {"a": 3, "extra": "x"}]):
        w.write(rec(v, i))
    w.commit()
    keys = sorted(store.objects)
    assert len(keys) == 2
    last = store.objects[keys[1]]
    got = avro_read(last)[1] if fmt == AVRO else pq.read_table(io.BytesIO(last)).to_pylist()
    assert got == [{"a": 3, "extra": "x"}]


def test_json_with_schemas_rotates_on_schema_change_too() -> None:
    w, store = writer({"format.class": JSON})
    w.write(rec({"a": 1}, 0, V1))
    w.write(rec({"a": 2, "b": "x"}, 1, V2))
    w.commit()
    assert len(store.objects) == 2


def test_switching_between_schema_and_schemaless_fails() -> None:
    w, _ = writer({"format.class": JSON})
    w.write(rec({"a": 1}, 0, V1))
    with pytest.raises(DataException, match="schema-based and schema-less"):
        w.write(rec({"a": 1}, 1, None))


def test_keys_and_headers_files_beside_the_value_file() -> None:
    w, store = writer({"format.class": JSON, "store.kafka.keys": True,
                       "keys.format.class": JSON, "store.kafka.headers": True,
                       "headers.format.class": AVRO, "flush.size": 2})
    for i in range(2):
        r = rec({"i": i}, 5 + i, key=f"k{i}", key_schema={"type": "string", "optional": True})
        r.headers.add("trace", f"t{i}").add("raw", b"\x01")
        w.write(r)
    base = "topics/t/partition=0/t+0+0000000005"
    assert sorted(store.objects) == [base + ".headers.avro", base + ".json", base + ".keys.json"]
    assert store.objects[base + ".keys.json"] == b'"k0"\n"k1"\n'
    schema, headers = avro_read(store.objects[base + ".headers.avro"])
    assert schema["type"] == "array"
    assert headers[1] == [{"key": "trace", "value": "t1"}, {"key": "raw", "value": "AQ=="}]


def test_parquet_keys_are_enveloped() -> None:
    w, store = writer({"format.class": JSON, "store.kafka.keys": True,
                       "keys.format.class": PARQUET, "flush.size": 1})
    w.write(rec({"i": 1}, 0, key="k", key_schema={"type": "string", "optional": False}))
    table = pq.read_table(io.BytesIO(
        store.objects["topics/t/partition=0/t+0+0000000000.keys.snappy.parquet"]))
    assert table.to_pylist() == [{"key": "k"}]


def test_a_record_without_key_or_headers_is_refused_before_anything_is_buffered() -> None:
    w, _ = writer({"format.class": JSON, "store.kafka.keys": True, "keys.format.class": JSON})
    with pytest.raises(DataException, match="Key cannot be null"):
        w.write(rec({"i": 1}, 0))
    assert w.record_count == 0
    w, _ = writer({"format.class": JSON, "store.kafka.headers": True,
                   "headers.format.class": JSON})
    with pytest.raises(DataException, match="Headers cannot be null"):
        w.write(rec({"i": 1}, 0))


def test_tombstones_go_to_the_tombstone_partition_as_keys_only() -> None:
    w, store = writer({"format.class": JSON, "store.kafka.keys": True, "keys.format.class": JSON,
                       "behavior.on.null.values": "write", "flush.size": 3})
    w.write(rec({"i": 0}, 0, key="a"))
    w.write(rec(None, 1, key="b"))
    w.write(rec({"i": 2}, 2, key="c"))
    assert sorted(store.objects) == [
        "topics/t/partition=0/t+0+0000000000.json", "topics/t/partition=0/t+0+0000000000.keys.json",
        "topics/t/tombstone/t+0+0000000001.keys.json"]
    assert store.objects["topics/t/tombstone/t+0+0000000001.keys.json"] == b'"b"\n'
    assert store.objects["topics/t/partition=0/t+0+0000000000.json"] == b'{"i":0}\n{"i":2}\n'


def test_bzip2_is_really_bzip2() -> None:
    data = make_format({"format.class": AVRO, "avro.codec": "bzip2"}).encode(items([1], {
        "type": "int32"}))
    block = data[data.index(b"brook-connect-s3") + 16 + 2:]  # count, size: one byte each
    assert bz2.decompress(block[:-16]) == b"\x02"


def test_a_missing_codec_library_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from brook.connect.connectors.s3.avro_file import AVRO_CODECS

    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails, as if not installed
    assert AVRO_CODECS.problem("zstandard") == (
        "avro.codec zstandard needs the Python package zstandard, which is missing")
    assert AVRO_CODECS.problem("deflate") is None


V3 = {**V1, "version": 3, "fields": [*V2["fields"],  # type: ignore[list-item]
                                     {"field": "n", "type": "int64", "optional": False,
                                      "default": 7}]}


@pytest.mark.parametrize("mode", ["BACKWARD", "FULL"])
def test_backward_rotates_on_a_newer_version_and_projects_older_records(mode: str) -> None:
    w, store = writer({"format.class": AVRO, "schema.compatibility": mode})
    w.write(rec({"a": 1}, 0, V1))
    w.write(rec({"a": 2, "b": "x", "n": 1}, 1, V3))  # newer: new file
    w.write(rec({"a": 3}, 2, V1))  # older: projected to V3, same file
    w.write(rec({"a": 4, "b": "y"}, 3, V2))
    w.commit()
    keys = sorted(store.objects)
    assert [avro_read(store.objects[k])[1] for k in keys] == [
        [{"a": 1}],
        [{"a": 2, "b": "x", "n": 1}, {"a": 3, "b": None, "n": 7}, {"a": 4, "b": "y", "n": 7}]]


def test_forward_rotates_on_an_older_version_and_projects_newer_records() -> None:
    w, store = writer({"format.class": AVRO, "schema.compatibility": "FORWARD"})
    w.write(rec({"a": 1, "b": "x"}, 0, V2))
    w.write(rec({"a": 2, "b": "y", "n": 5}, 1, V3))  # newer: projected to V2 (n dropped)
    w.write(rec({"a": 3}, 2, V1))  # older: new file
    w.commit()
    keys = sorted(store.objects)
    assert [avro_read(store.objects[k])[1] for k in keys] == [
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], [{"a": 3}]]


def test_projection_needs_versions_and_a_source_for_required_fields() -> None:
    w, _ = writer({"format.class": JSON, "schema.compatibility": "BACKWARD"})
    with pytest.raises(DataException, match="Schema version required for BACKWARD"):
        w.write(rec({"a": 1}, 0, {**V1, "version": None}))
    w, _ = writer({"format.class": JSON, "schema.compatibility": "BACKWARD"})
    required = {**V2, "fields": [*V1["fields"],  # type: ignore[list-item]
                                 {"field": "r", "type": "string", "optional": False}]}
    w.write(rec({"a": 1, "r": "x"}, 0, required))
    with pytest.raises(DataException, match="Required field `r` is missing"):
        w.write(rec({"a": 2}, 1, V1))


@pytest.mark.parametrize("schema", [
    {"type": "array"},  # no items
    {"type": "struct", "fields": [{"type": "int32"}]},  # a field without a name
    {"type": "struct", "fields": "nope"},
    {"type": "decimal"},
])
@pytest.mark.parametrize("fmt", [AVRO, PARQUET])
def test_a_malformed_schema_fails_the_record_with_the_reason(schema: Any, fmt: str) -> None:
    with pytest.raises(DataException):
        make_format({"format.class": fmt}).encode(items([{"a": 1}], schema))


def test_projection_refuses_a_value_its_schema_does_not_describe() -> None:
    w, _ = writer({"format.class": JSON, "schema.compatibility": "BACKWARD"})
    w.write(rec({"a": 1, "b": "x"}, 0, V2))
    with pytest.raises(DataException, match="does not match"):
        w.write(rec("not a struct", 1, V1))


COUNTS = {"type": "struct", "name": "Counts", "optional": False, "fields": [
    {"field": "by_id", "type": "map", "optional": False,
     "keys": {"type": "int32", "optional": False}, "values": {"type": "string", "optional": True}},
    {"field": "by_name", "type": "map", "optional": False,
     "keys": {"type": "string", "optional": False}, "values": {"type": "int64", "optional": False}}]}


def test_maps_with_non_string_keys_are_arrays_of_entries_as_avrodata_writes_them() -> None:
    # JsonConverter gives a map with non-string keys as [[key, value], ...].
    value = {"by_id": [[1, "a"], [2, None]], "by_name": {"x": 5}}
    schema, rows = avro_read(make_format({"format.class": AVRO}).encode(items([value], COUNTS)))
    by_id = schema["fields"][0]["type"]
    assert by_id["type"] == "array"
    assert by_id["items"]["name"] == "io.confluent.connect.avro.MapEntry"
    assert rows == [{"by_id": [{"key": 1, "value": "a"}, {"key": 2, "value": None}],
                     "by_name": {"x": 5}}]
    table = pq.read_table(io.BytesIO(make_format({"format.class": PARQUET}).encode(
        items([value], COUNTS))))
    assert table.to_pylist() == [{"by_id": [{"key": 1, "value": "a"}, {"key": 2, "value": None}],
                                  "by_name": [("x", 5)]}]
    with pytest.raises(DataException, match="neither an object nor a list"):
        make_format({"format.class": AVRO}).encode(items([{"by_id": [1, 2], "by_name": {}}],
                                                         COUNTS))
