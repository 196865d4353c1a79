"""Object formats: JSON lines, raw bytes, Avro container files and Parquet, as Confluent writes them.

A file holds at most ``flush.size`` records, so each format serialises a finished list of
records in one go; the bytes depend only on the records, which keeps rewritten objects
identical. Avro and Parquet take the schema from the converter (``schemas.enable=true``) and
infer one from the values otherwise.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from brook.connect.api import DataException, SinkRecord

_PKG = "io.confluent.connect.s3.format."
FORMATS = {
    "JsonFormat": _PKG + "json.JsonFormat",
    "ByteArrayFormat": _PKG + "bytearray.ByteArrayFormat",
    "AvroFormat": _PKG + "avro.AvroFormat",
    "ParquetFormat": _PKG + "parquet.ParquetFormat",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Format:
    extension = ".bin"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.gzip = str(config.get("s3.compression.type", "none")).lower() == "gzip"
        self.level = int(config.get("s3.compression.level", -1))

    def file_extension(self) -> str:
        return self.extension + (".gz" if self.gzip else "")

    def encode(self, records: Sequence[SinkRecord]) -> bytes:
        data = self.serialise(records)
        if self.gzip:
            return gzip.compress(data, compresslevel=9 if self.level < 0 else self.level, mtime=0)
        return data

    def serialise(self, records: Sequence[SinkRecord]) -> bytes:
        raise NotImplementedError


class JsonFormat(Format):
    """One JSON value per line: strings as JSON string literals, maps/structs as objects."""

    extension = ".json"

    def serialise(self, records: Sequence[SinkRecord]) -> bytes:
        lines = [json.dumps(r.value, separators=(",", ":"), ensure_ascii=False,
                            default=_json_default) for r in records]
        return "".join(line + "\n" for line in lines).encode()


class ByteArrayFormat(Format):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.extension = str(config.get("format.bytearray.extension", ".bin"))
        sep = config.get("format.bytearray.separator")
        self.separator = ("\n" if sep is None else str(sep)).encode()

    def serialise(self, records: Sequence[SinkRecord]) -> bytes:
        out = bytearray()
        for r in records:
            v = r.value
            if isinstance(v, str):
                v = v.encode()
            elif v is None:
                v = b""
            elif not isinstance(v, bytes | bytearray):
                raise DataException(f"ByteArrayFormat needs bytes values, got {type(v).__name__}")
            out += v
            out += self.separator
        return bytes(out)


_AVRO_PRIMITIVES = {"int8": "int", "int16": "int", "int32": "int", "int64": "long",
                    "float32": "float", "float64": "double", "boolean": "boolean",
                    "string": "string", "bytes": "bytes"}


def avro_schema(connect: Mapping[str, Any], name: str = "ConnectDefault") -> Any:
    """Kafka Connect schema (JsonConverter's JSON form) -> Avro schema."""
    t = connect.get("type")
    if t in _AVRO_PRIMITIVES:
        avro: Any = _AVRO_PRIMITIVES[str(t)]
    elif t == "array":
        avro = {"type": "array", "items": avro_schema(connect["items"], name + "_item")}
    elif t == "map":
        avro = {"type": "map", "values": avro_schema(connect["values"], name + "_value")}
    elif t == "struct":
        rec_name = str(connect.get("name") or name).replace(".", "_")
        avro = {"type": "record", "name": rec_name, "fields": [
            {"name": f["field"], "type": avro_schema(f, f"{rec_name}_{f['field']}"),
             **({"default": None} if f.get("optional") else {})}
            for f in connect.get("fields", [])]}
    else:
        raise DataException(f"Unsupported schema type for Avro: {t}")
    return ["null", avro] if connect.get("optional") else avro


def infer_connect_schema(value: Any) -> dict[str, Any]:
    """A Connect schema for a schemaless value (first record's shape), all fields optional."""
    if isinstance(value, bool):
        return {"type": "boolean", "optional": True}
    if isinstance(value, int):
        return {"type": "int64", "optional": True}
    if isinstance(value, float):
        return {"type": "float64", "optional": True}
    if isinstance(value, str):
        return {"type": "string", "optional": True}
    if isinstance(value, bytes | bytearray):
        return {"type": "bytes", "optional": True}
    if isinstance(value, list):
        items = infer_connect_schema(value[0]) if value else {"type": "string", "optional": True}
        return {"type": "array", "items": items, "optional": True}
    if isinstance(value, Mapping):
        return {"type": "struct", "optional": False, "fields": [
            {"field": str(k), **infer_connect_schema(v)} for k, v in value.items()]}
    raise DataException(f"Cannot infer a schema for {type(value).__name__}")


class AvroFormat(Format):
    extension = ".avro"

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.gzip = False
        self.codec = str(config.get("avro.codec", "null"))

    def serialise(self, records: Sequence[SinkRecord]) -> bytes:
        import fastavro

        first = records[0]
        connect = first.value_schema or infer_connect_schema(first.value)
        parsed = fastavro.parse_schema(avro_schema(connect))
        buf = io.BytesIO()
        try:
            fastavro.writer(buf, parsed, [r.value for r in records], codec=self.codec,
                            sync_marker=b"brook-connect-s3")
        except (ValueError, TypeError) as exc:
            raise DataException(f"record does not fit the Avro schema: {exc}") from exc
        return buf.getvalue()


class ParquetFormat(Format):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.gzip = False
        self.codec = str(config.get("parquet.codec", "snappy")).lower()
        self.extension = ".parquet" if self.codec in ("none", "uncompressed") else (
            f".{'gz' if self.codec == 'gzip' else self.codec}.parquet")

    def serialise(self, records: Sequence[SinkRecord]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        values = [r.value for r in records]
        if not all(isinstance(v, Mapping) for v in values):
            raise DataException("ParquetFormat needs struct or map values")
        try:
            table = pa.Table.from_pylist(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataException(f"records do not form one Parquet schema: {exc}") from exc
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="none" if self.codec == "none" else self.codec)
        return buf.getvalue()


def make_format(config: Mapping[str, Any]) -> Format:
    name = str(config["format.class"]).strip().rsplit(".", 1)[-1]
    cls: type[Format] = {"JsonFormat": JsonFormat, "ByteArrayFormat": ByteArrayFormat,
                         "AvroFormat": AvroFormat, "ParquetFormat": ParquetFormat}[name]
    return cls(config)
