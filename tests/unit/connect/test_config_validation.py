"""Configuration errors name the key and the reason."""

from __future__ import annotations

from brook.connect.connectors.s3.connector import S3SinkConnector
from brook.connect.runtime.herder import Herder
from brook.connect.runtime.kafka_log import MemoryLog
from brook.connect.runtime.sink_offsets import MemorySinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.worker_config import WorkerConfig

GOOD = {"name": "s", "connector.class": "S3SinkConnector", "topics": "t", "s3.bucket.name": "bkt",
        "format.class": "io.confluent.connect.s3.format.json.JsonFormat", "flush.size": "3"}


def errors(props: dict[str, str]) -> dict[str, list[str]]:
    return {v.name: v.errors for v in S3SinkConnector().validate(props) if v.errors}


def herder() -> Herder:
    return Herder(WorkerConfig({}), ConfigStore(MemoryLog()), OffsetStore(MemoryLog()),
                  StatusStore(MemoryLog(), "w:1"), MemorySinkOffsets())


def test_s3_keys() -> None:
    assert errors(GOOD) == {}
    assert errors({**GOOD, "flush.size": "0"}) == {
        "flush.size": ["Invalid value 0 for configuration flush.size: Value must be at least 1"]}
    assert "s3.part.size" in errors({**GOOD, "s3.part.size": "1024"})
    assert "flush.size" in errors({**GOOD, "flush.size": "many"})
    bad_tz = errors({**GOOD, "partitioner.class": "HourlyPartitioner", "timezone": "Mars/Base"})
    assert list(bad_tz) == ["timezone"] and "Unknown time zone" in bad_tz["timezone"][0]
    missing = errors({**GOOD, "partitioner.class": "TimeBasedPartitioner", "timezone": "UTC"})
    assert set(missing) == {"path.format", "partition.duration.ms"}


def test_framework_keys_through_the_herder() -> None:
    h = herder()
    infos = h.validate({**GOOD, "errors.tolerance": "some", "topics.regex": "x.*"})
    bad = {c["value"]["name"]: c["value"]["errors"] for c in infos["configs"] if c["value"]["errors"]}
    assert list(bad) == ["errors.tolerance"]
    infos = h.validate({**GOOD, "topics.regex": "x.*"})
    bad = {c["value"]["name"]: c["value"]["errors"] for c in infos["configs"] if c["value"]["errors"]}
    assert "topics" in bad and "mutually exclusive" in bad["topics"][0]
    unknown = h.validate({**GOOD, "connector.class": "com.example.Nope"})
    assert unknown["error_count"] == 1


def test_s3_format_keys() -> None:
    assert errors({**GOOD, "avro.codec": "zstandard", "parquet.codec": "brotli",
                   "store.kafka.keys": "true", "store.kafka.headers": "true",
                   "keys.format.class": "io.confluent.connect.s3.format.json.JsonFormat",
                   "behavior.on.null.values": "write"}) == {}
    assert "Unrecognized codec" in errors({**GOOD, "avro.codec": "lzma"})["avro.codec"][0]
    assert "lzo is not supported" in errors({**GOOD, "parquet.codec": "lzo"})["parquet.codec"][0]
    assert "parquet.codec" in errors({**GOOD, "parquet.codec": "brotl"})
    assert errors({**GOOD, "schema.compatibility": "BACKWARD"}) == {}
    assert "schema.compatibility" in errors({**GOOD, "schema.compatibility": "SIDEWAYS"})
    assert "Timezone cannot be empty" in errors({**GOOD, "rotate.schedule.interval.ms": "60000"})[
        "timezone"][0]
    tombstones = errors({**GOOD, "behavior.on.null.values": "write"})
    assert set(tombstones) == {"store.kafka.keys", "behavior.on.null.values"}
    assert "keys to storage is mandatory" in tombstones["store.kafka.keys"][0]
    gzip_keys = errors({**GOOD, "s3.compression.type": "gzip", "store.kafka.keys": "true"})
    assert "Compression Type gzip not valid for keys format class" in gzip_keys[
        "keys.format.class"][0]  # the default keys format is Avro
    assert errors({**GOOD, "s3.compression.type": "gzip", "store.kafka.keys": "true",
                   "keys.format.class": "io.confluent.connect.s3.format.json.JsonFormat"}) == {}
    assert "ByteArrayFormat cannot write headers" in errors({
        **GOOD, "store.kafka.headers": "true",
        "headers.format.class": "io.confluent.connect.s3.format.bytearray.ByteArrayFormat"})[
        "headers.format.class"][0]
    assert "tombstone.encoded.partition" in errors({**GOOD, "tombstone.encoded.partition": ".."})
