"""Object formats: JSON lines, raw bytes, Avro container files and Parquet, as Confluent writes them.

A file holds at most ``flush.size`` records, so each format serialises a finished list of
``(schema, value)`` items - a record's value, key or headers view (``schemas.view``) - in one
go; the bytes depend only on the items, which keeps rewritten objects identical. Avro and
Parquet write the Connect schema of the file's first item (the writer starts a new file when
the schema changes); a schemaless item gets an inferred one.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from brook.connect.api import ConfigException, DataException
from brook.connect.connectors.s3.avro_file import write_container
from brook.connect.connectors.s3.schemas import (
    Schema,
    arrow_fields,
    avro_schema,
    entries_value,
    has_entry_maps,
    infer_connect_schema,
)

Item = tuple[Schema | None, Any]
_PKG = "io.confluent.connect.s3.format."
FORMATS = {
    "JsonFormat": _PKG + "json.JsonFormat",
    "ByteArrayFormat": _PKG + "bytearray.ByteArrayFormat",
    "AvroFormat": _PKG + "avro.AvroFormat",
    "ParquetFormat": _PKG + "parquet.ParquetFormat",
}
# parquet.codec -> (pyarrow codec, the extension parquet-mr's CompressionCodecName gives it)
PARQUET_CODECS = {"none": ("none", ""), "snappy": ("snappy", ".snappy"),
                  "gzip": ("gzip", ".gz"), "brotli": ("brotli", ".br"),
                  "lz4": ("lz4", ".lz4hadoop"), "lz4_raw": ("lz4", ".lz4raw"),
                  "zstd": ("zstd", ".zstd"), "lzo": (None, ".lzo")}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _mapped(mapping: Any, connect: Schema) -> Any:
    """A schema mapped to Avro or Arrow; a malformed one (it comes from the record) fails the
    record with the reason instead of an unexplained error."""
    try:
        return mapping(connect)
    except DataException:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise DataException(f"Invalid Connect schema: {type(exc).__name__}: {exc}") from None


def _values(connect: Schema, items: Sequence[Item]) -> list[Any]:
    if has_entry_maps(connect):
        return [entries_value(connect, v) for _, v in items]
    return [v for _, v in items]


class Format:
    extension = ".bin"
    needs_schema = False
    enveloped = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.gzip = str(config.get("s3.compression.type", "none")).lower() == "gzip"
        self.level = int(config.get("s3.compression.level", -1))

    def file_extension(self) -> str:
        return self.extension + (".gz" if self.gzip else "")

    def schema_of(self, schema: Schema | None, value: Any) -> Schema | None:
        """The schema a file written in this format has for an item (None: no schema)."""
        if schema is None and self.needs_schema and value is not None:
            return infer_connect_schema(value)
        return schema

    def encode(self, items: Sequence[Item]) -> bytes:
        data = self.serialise(items)
        if self.gzip:
            return gzip.compress(data, compresslevel=9 if self.level < 0 else self.level, mtime=0)
        return data

    def serialise(self, items: Sequence[Item]) -> bytes:
        raise NotImplementedError


class JsonFormat(Format):
    """One JSON value per line: strings as JSON string literals, maps/structs as objects."""

    extension = ".json"

    def serialise(self, items: Sequence[Item]) -> bytes:
        lines = [json.dumps(v, separators=(",", ":"), ensure_ascii=False,
                            default=_json_default) for _, v in items]
        return "".join(line + "\n" for line in lines).encode()


class ByteArrayFormat(Format):
    """The bytes of each value, then the separator; like Kafka's ``ByteArrayConverter``, any
    value that is not bytes is refused rather than guessed at."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.extension = str(config.get("format.bytearray.extension", ".bin"))
        sep = config.get("format.bytearray.separator")
        self.separator = ("\n" if sep is None else str(sep)).encode()

    def serialise(self, items: Sequence[Item]) -> bytes:
        out = bytearray()
        for _, v in items:
            if not isinstance(v, bytes | bytearray):
                raise DataException(f"ByteArrayConverter is not compatible with objects of type "
                                    f"{type(v).__name__}; ByteArrayFormat writes bytes values "
                                    f"(value.converter=org.apache.kafka.connect.converters."
                                    f"ByteArrayConverter)")
            out += v
            out += self.separator
        return bytes(out)


class AvroFormat(Format):
    extension = ".avro"
    needs_schema = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.gzip = False
        self.codec = str(config.get("avro.codec", "null"))

    def serialise(self, items: Sequence[Item]) -> bytes:
        schema, value = items[0]
        connect = self.schema_of(schema, value)
        if connect is None:
            raise DataException("AvroFormat needs a value to take a schema from")
        return write_container(_mapped(avro_schema, connect), _values(connect, items),
                               self.codec)


class ParquetFormat(Format):
    needs_schema = True
    enveloped = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.gzip = False
        codec = str(config.get("parquet.codec", "snappy")).lower()
        self.codec, self.extension = PARQUET_CODECS[codec][0], PARQUET_CODECS[codec][1] + ".parquet"

    def serialise(self, items: Sequence[Item]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema, value = items[0]
        connect = self.schema_of(schema, value)
        if connect is None or connect.get("type") != "struct":
            raise DataException("ParquetFormat needs struct values (a Parquet file's root is a "
                                "record)")
        values = _values(connect, items)
        if not all(isinstance(v, Mapping) for v in values):
            raise DataException("ParquetFormat needs struct or map values")
        # parquet-avro (Confluent's writer) records the Avro schema in the footer; readers that
        # use it (Spark, Hive with parquet-avro) then see the same record as in an Avro object.
        arrow = pa.schema(_mapped(arrow_fields, connect), metadata={
            "parquet.avro.schema": json.dumps(_mapped(avro_schema, connect),
                                              separators=(",", ":")),
            "writer.model.name": "avro"})
        try:
            table = pa.Table.from_pylist(values, schema=arrow)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise DataException(f"record does not fit the Parquet schema: {exc}") from exc
        for field, column in zip(arrow, table.columns, strict=True):
            if not field.nullable and column.null_count:
                raise DataException(f"Invalid value: null used for required field: "
                                    f"\"{field.name}\"")
        buf = io.BytesIO()
        pq.write_table(table, buf, compression=self.codec or "none")
        return buf.getvalue()


def check_codecs(config: Mapping[str, Any]) -> list[ConfigException]:
    """A Parquet codec the writer cannot produce is a configuration error (``avro.codec`` is
    checked by its own validator)."""
    errors: list[ConfigException] = []
    codec = str(config.get("parquet.codec", "snappy")).lower()
    if codec in PARQUET_CODECS and PARQUET_CODECS[codec][0] is None:
        errors.append(ConfigException("parquet.codec", codec, "lzo is not supported by this "
                                      "sink's Parquet writer; use snappy, gzip, brotli, lz4, "
                                      "lz4_raw or zstd"))
    return errors


def make_format(config: Mapping[str, Any], key: str = "format.class") -> Format:
    name = str(config[key]).strip().rsplit(".", 1)[-1]
    cls: type[Format] = {"JsonFormat": JsonFormat, "ByteArrayFormat": ByteArrayFormat,
                         "AvroFormat": AvroFormat, "ParquetFormat": ParquetFormat}[name]
    return cls(config)
