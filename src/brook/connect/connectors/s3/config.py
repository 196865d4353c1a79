"""The S3 sink's configuration keys, defaults and validation (Confluent's names and defaults).

Every rule that can be checked without touching the store is checked here, so ``POST
/connectors`` and the validate endpoint name the key and the reason instead of a task failing
later: unknown format or partitioner class, a ``path.format`` that does not compile, a time zone
that does not exist, a TimeBasedPartitioner without ``partition.duration.ms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from brook.connect.api import (
    ConfigDef,
    ConfigException,
    ConfigKey,
    Importance,
    Type,
    at_least,
    one_of,
)
from brook.connect.connectors.s3.avro_file import AVRO_CODECS
from brook.connect.connectors.s3.formats import FORMATS, PARQUET_CODECS, check_codecs
from brook.connect.connectors.s3.names import (
    check_bucket,
    check_delimiter,
    check_prefix,
    check_store_url,
    key_problem,
)
from brook.connect.connectors.s3.partitioner import EXTRACTORS, PARTITIONERS, short_name
from brook.connect.connectors.s3.timefmt import compile_pattern

MIB = 1024 * 1024


def _class_in(known: dict[str, str], what: str) -> Any:
    def check(name: str, value: Any) -> None:
        v = str(value).strip()
        if v not in known and v not in known.values():
            raise ConfigException(name, value, f"Class {value} could not be found; {what} is "
                                  f"one of {', '.join(known.values())}")
    return check


def _extractor(name: str, value: Any) -> None:
    if short_name(str(value)).removesuffix("TimestampExtractor") not in EXTRACTORS:
        raise ConfigException(name, value, f"Unknown timestamp extractor; use one of "
                              f"{', '.join(EXTRACTORS)}")


def _path_format(name: str, value: Any) -> None:
    if value:
        try:
            render = compile_pattern(str(value))
        except ValueError as exc:
            raise ConfigException(name, value, f"Invalid Joda-Time pattern: {exc}") from exc
        # Quoted literals can spell '..' or '/': refuse here what every object would break.
        problem = key_problem(render(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
        if problem:
            raise ConfigException(name, value, problem.replace("an object key", "path.format"))


def _avro_codec(name: str, value: Any) -> None:
    problem = AVRO_CODECS.problem(str(value))
    if problem:
        raise ConfigException(name, value, problem)


def _tombstone_partition(name: str, value: Any) -> None:
    problem = key_problem(str(value))
    if problem:
        raise ConfigException(name, value, problem.replace("an object key", name))


def _timezone(name: str, value: Any) -> None:
    if value:
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigException(name, value, "Unknown time zone") from exc


def _time_based_checks(v: Mapping[str, Any]) -> list[ConfigException]:
    errors: list[ConfigException] = []
    partitioner = short_name(str(v.get("partitioner.class", "")))
    if partitioner in ("TimeBasedPartitioner", "DailyPartitioner", "HourlyPartitioner"):
        if not v.get("timezone"):
            errors.append(ConfigException("timezone", "", f"{partitioner} requires a timezone, "
                                          "e.g. UTC"))
        if partitioner == "TimeBasedPartitioner":
            if not v.get("path.format"):
                errors.append(ConfigException("path.format", "", "TimeBasedPartitioner requires "
                                              "path.format, e.g. 'year'=YYYY/'month'=MM"))
            if int(v.get("partition.duration.ms", -1)) <= 0:
                errors.append(ConfigException("partition.duration.ms",
                                              v.get("partition.duration.ms"),
                                              "TimeBasedPartitioner requires a positive duration"))
    if partitioner == "FieldPartitioner" and not v.get("partition.field.name"):
        errors.append(ConfigException("partition.field.name", "", "FieldPartitioner requires "
                                      "at least one field name"))
    if short_name(str(v.get("format.class", ""))) in ("AvroFormat", "ParquetFormat") and \
            str(v.get("s3.compression.type", "none")).lower() == "gzip":
        errors.append(ConfigException("s3.compression.type", "gzip", "gzip applies to JSON and "
                                      "ByteArray formats; Avro and Parquet use their own codec"))
    return errors + _storage_checks(v) + check_codecs(v)


def _storage_checks(v: Mapping[str, Any]) -> list[ConfigException]:
    """Rules between keys that Confluent's sink enforces (some only on the first record)."""
    errors: list[ConfigException] = []
    if int(v.get("rotate.schedule.interval.ms", -1)) > 0 and not v.get("timezone"):
        errors.append(ConfigException("timezone", "", "Timezone cannot be empty when using "
                                      "scheduled file rotation (rotate.schedule.interval.ms)."))
    if str(v.get("behavior.on.null.values", "fail")).lower() == "write" and \
            not v.get("store.kafka.keys"):
        message = ("Writing Kafka record keys to storage is mandatory when tombstone writing is "
                   "enabled.")
        errors += [ConfigException("store.kafka.keys", False, message),
                   ConfigException("behavior.on.null.values", "write", message)]
    if str(v.get("s3.compression.type", "none")).lower() == "gzip":
        for store, key, what in (("store.kafka.keys", "keys.format.class", "keys"),
                                 ("store.kafka.headers", "headers.format.class", "headers")):
            if v.get(store) and short_name(str(v.get(key, ""))) not in ("JsonFormat",
                                                                        "ByteArrayFormat"):
                errors.append(ConfigException(key, v.get(key), f"Compression Type gzip not "
                                              f"valid for {what} format class: ( "
                                              f"{v.get(key)} )."))
    if short_name(str(v.get("headers.format.class", ""))) == "ByteArrayFormat" and \
            v.get("store.kafka.headers"):
        errors.append(ConfigException("headers.format.class", v.get("headers.format.class"),
                                      "ByteArrayFormat cannot write headers; use AvroFormat, "
                                      "JsonFormat or ParquetFormat"))
    return errors


S3_CONFIG = ConfigDef([
    ConfigKey("s3.bucket.name", Type.STRING, importance=Importance.HIGH,
              documentation="The bucket objects are written to (S3's bucket naming rules).",
              validator=check_bucket, group="S3"),
    ConfigKey("s3.region", Type.STRING, "us-west-2", Importance.MEDIUM, "", group="S3"),
    ConfigKey("store.url", Type.STRING, None, Importance.HIGH,
              "S3 endpoint (http://host:port for MinIO and the like), or file:///dir to write "
              "objects under <dir>/<bucket>/ on the local disk (only under a directory the "
              "worker allows in s3.file.store.root).", check_store_url, "S3"),
    ConfigKey("s3.path.style.access.enabled", Type.BOOLEAN, True, Importance.LOW, "", group="S3"),
    ConfigKey("aws.access.key.id", Type.STRING, None, Importance.HIGH, "", group="S3"),
    ConfigKey("aws.secret.access.key", Type.PASSWORD, None, Importance.HIGH, "", group="S3"),
    ConfigKey("s3.part.size", Type.INT, 25 * MIB, Importance.HIGH,
              "Multipart upload part size in bytes.", at_least(5 * MIB), "S3"),
    ConfigKey("s3.compression.type", Type.STRING, "none", Importance.LOW, "",
              one_of("none", "gzip"), "S3"),
    ConfigKey("s3.compression.level", Type.INT, -1, Importance.LOW, "", at_least(-1), "S3"),
    ConfigKey("s3.part.retries", Type.INT, 3, Importance.LOW,
              "Retries of a failed write; once they are spent the task fails with the reason.",
              at_least(0), "S3"),
    ConfigKey("s3.retry.backoff.ms", Type.LONG, 200, Importance.LOW,
              "Wait before the first retry; each further retry waits twice as long.",
              at_least(0), "S3"),
    ConfigKey("topics.dir", Type.STRING, "topics", Importance.HIGH,
              "Top-level prefix (a relative key: no '..' segments, no leading '/').",
              check_prefix, "Storage"),
    ConfigKey("directory.delim", Type.STRING, "/", Importance.LOW, "", check_delimiter,
              "Storage"),
    ConfigKey("file.delim", Type.STRING, "+", Importance.LOW, "", check_delimiter, "Storage"),
    ConfigKey("filename.offset.zero.pad.width", Type.INT, 10, Importance.LOW, "", at_least(0),
              "Storage"),
    ConfigKey("format.class", Type.CLASS, importance=Importance.HIGH,
              validator=_class_in(FORMATS, "format.class"), group="Connector"),
    ConfigKey("flush.size", Type.INT, importance=Importance.HIGH,
              documentation="Records per object.", validator=at_least(1), group="Connector"),
    ConfigKey("rotate.interval.ms", Type.LONG, -1, Importance.HIGH,
              "Close files once records span this much record time (time-based partitioners "
              "only; ignored with the others).", at_least(-1), "Connector"),
    ConfigKey("rotate.schedule.interval.ms", Type.LONG, -1, Importance.MEDIUM,
              "Close files on this wall-clock schedule, counted from midnight in timezone, "
              "even when no more records arrive.", at_least(-1), "Connector"),
    ConfigKey("retry.backoff.ms", Type.LONG, 5000, Importance.LOW, "", at_least(0), "Connector"),
    ConfigKey("behavior.on.null.values", Type.STRING, "fail", Importance.LOW, "",
              one_of("ignore", "fail", "write"), "Connector"),
    ConfigKey("format.bytearray.extension", Type.STRING, ".bin", Importance.LOW, "", group="Connector"),
    ConfigKey("format.bytearray.separator", Type.STRING, None, Importance.LOW, "", group="Connector"),
    ConfigKey("avro.codec", Type.STRING, "null", Importance.LOW,
              "Avro block codec: null, deflate, snappy, bzip2, xz or zstandard.", _avro_codec,
              "Connector"),
    ConfigKey("parquet.codec", Type.STRING, "snappy", Importance.LOW,
              "Parquet codec; it names the file too (.snappy.parquet, .gz.parquet, .br.parquet, "
              "...).", one_of(*PARQUET_CODECS), "Connector"),
    ConfigKey("store.kafka.keys", Type.BOOLEAN, False, Importance.LOW,
              "Also write each object's record keys, to <name>.keys<keys format extension>.",
              group="Connector"),
    ConfigKey("store.kafka.headers", Type.BOOLEAN, False, Importance.LOW,
              "Also write each object's record headers, to <name>.headers<extension>.",
              group="Connector"),
    ConfigKey("keys.format.class", Type.CLASS, FORMATS["AvroFormat"], Importance.LOW, "",
              _class_in(FORMATS, "keys.format.class"), "Connector"),
    ConfigKey("headers.format.class", Type.CLASS, FORMATS["AvroFormat"], Importance.LOW, "",
              _class_in(FORMATS, "headers.format.class"), "Connector"),
    ConfigKey("tombstone.encoded.partition", Type.STRING, "tombstone", Importance.LOW,
              "Directory (encoded partition) of the keys of tombstones when "
              "behavior.on.null.values=write.", _tombstone_partition, "Connector"),
    ConfigKey("schema.compatibility", Type.STRING, "NONE", Importance.LOW,
              "NONE: a record whose value schema differs from its file's starts a new file; "
              "BACKWARD/FULL: a newer schema version does, older records are projected; "
              "FORWARD: an older version does, newer records are projected.",
              one_of("NONE", "BACKWARD", "FORWARD", "FULL"), "Schema"),
    ConfigKey("partitioner.class", Type.CLASS, PARTITIONERS["DefaultPartitioner"],
              Importance.HIGH, "", _class_in(PARTITIONERS, "partitioner.class"), "Partitioner"),
    ConfigKey("partition.field.name", Type.LIST, [], Importance.MEDIUM, "", group="Partitioner"),
    ConfigKey("partition.duration.ms", Type.LONG, -1, Importance.MEDIUM, "", group="Partitioner"),
    ConfigKey("path.format", Type.STRING, "", Importance.MEDIUM,
              "Joda-Time pattern of the time-based directory.", _path_format, "Partitioner"),
    ConfigKey("locale", Type.STRING, "", Importance.MEDIUM, "", group="Partitioner"),
    ConfigKey("timezone", Type.STRING, "", Importance.MEDIUM, "", _timezone, "Partitioner"),
    ConfigKey("timestamp.extractor", Type.STRING, "Wallclock", Importance.MEDIUM, "",
              _extractor, "Partitioner"),
    ConfigKey("timestamp.field", Type.STRING, "timestamp", Importance.MEDIUM, "",
              group="Partitioner"),
])
S3_CONFIG.cross_checks.append(_time_based_checks)
