"""Kafka Connect schemas as the S3 sink's formats need them: Avro schemas, Arrow schemas, views.

A record's Connect schema is the JSON form ``JsonConverter`` carries (``{"type": "struct",
"name": ..., "fields": [...]}``). Avro and Parquet objects are written with that schema, mapped
the way Confluent's ``AvroData`` maps it (Parquet goes through Avro in Confluent's sink, so its
column types are the Avro ones): a struct named ``com.example.V`` is the record ``V`` in namespace
``com.example``, an unnamed one is ``io.confluent.connect.avro.ConnectDefault``; ``int8`` and
``int16`` are Avro ``int`` (Parquet ``INT32``); an optional field is nullable and a required one
is not; Connect's logical types (``Timestamp``, ``Date``, ``Time``, ``Decimal``) keep their
meaning.

Records without a schema (``schemas.enable=false``) get one inferred from their value, so that
records of different shapes get different schemas and, like a schema change, a new object,
instead of losing the fields the first record lacked.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from brook.connect.api import DataException, SinkRecord

Schema = Mapping[str, Any]
AVRO_NAMESPACE = "io.confluent.connect.avro"
DEFAULT_NAME = "ConnectDefault"
_LOGICAL = "org.apache.kafka.connect.data."
_AVRO_PRIMITIVES = {"int8": "int", "int16": "int", "int32": "int", "int64": "long",
                    "float32": "float", "float64": "double", "boolean": "boolean",
                    "string": "string", "bytes": "bytes"}


def infer_connect_schema(value: Any) -> dict[str, Any]:
    """A Connect schema for a schemaless value; every field is optional (JSON has no rule)."""
    if value is None:
        return {"type": "string", "optional": True}
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


def split_name(name: str) -> tuple[str | None, str]:
    """``com.example.V`` -> (``com.example``, ``V``), as Avro reads a full name."""
    namespace, _, simple = name.rpartition(".")
    return (namespace or None), simple


class _Names:
    """Unnamed structs become ``ConnectDefault``, ``ConnectDefault2``, ... (names must be unique)."""

    def __init__(self) -> None:
        self.unnamed = 0

    def next(self) -> str:
        self.unnamed += 1
        return DEFAULT_NAME if self.unnamed == 1 else f"{DEFAULT_NAME}{self.unnamed}"


def _avro_logical(connect: Schema, t: str) -> dict[str, Any]:
    """The Avro logical type of Connect's ``Decimal``/``Date``/``Time``/``Timestamp``."""
    name = str(connect.get("name") or "")
    if name == _LOGICAL + "Timestamp" and t == "int64":
        return {"logicalType": "timestamp-millis"}
    if name == _LOGICAL + "Date" and t == "int32":
        return {"logicalType": "date"}
    if name == _LOGICAL + "Time" and t == "int32":
        return {"logicalType": "time-millis"}
    if name == _LOGICAL + "Decimal" and t == "bytes":
        params = connect.get("parameters") or {}
        return {"logicalType": "decimal", "scale": int(params.get("scale", 0)),
                "precision": int(params.get("connect.decimal.precision", 64))}
    return {}


def _connect_meta(connect: Schema) -> dict[str, Any]:
    """The ``connect.*`` properties ``AvroData`` keeps so a reader can rebuild the schema."""
    meta: dict[str, Any] = {}
    if connect.get("doc") is not None:
        meta["connect.doc"] = connect["doc"]
    if connect.get("version") is not None:
        meta["connect.version"] = connect["version"]
    if connect.get("parameters"):
        meta["connect.parameters"] = dict(connect["parameters"])
    if connect.get("default") is not None:
        meta["connect.default"] = connect["default"]
    if connect.get("name"):
        meta["connect.name"] = connect["name"]
    return meta


def _string_keys(connect: Schema) -> bool:
    keys = connect.get("keys") or {"type": "string"}
    return bool(keys.get("type") == "string" and not keys.get("optional"))


def _avro_field(name: str, connect: Schema, names: _Names) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "type": avro_schema(connect, names)}
    if connect.get("default") is not None:
        field["default"] = connect["default"]
    elif connect.get("optional"):
        field["default"] = None
    return field


def entries_value(connect: Schema | None, value: Any) -> Any:
    """``value`` with every map whose keys are not strings as a list of ``{key, value}`` entries
    (``JsonConverter`` gives such a map as ``[[key, value], ...]``), as the Avro schema has it."""
    if connect is None or value is None:
        return value
    t = connect.get("type")
    if t == "struct" and isinstance(value, Mapping):
        fields = {f["field"]: f for f in connect.get("fields", [])}
        return {k: entries_value(fields.get(k), v) for k, v in value.items()}
    if t == "array" and isinstance(value, list):
        return [entries_value(connect.get("items"), v) for v in value]
    if t == "map":
        pairs = value.items() if isinstance(value, Mapping) else value
        if _string_keys(connect):
            return {k: entries_value(connect.get("values"), v) for k, v in pairs}
        try:
            return [{"key": entries_value(connect.get("keys"), k),
                     "value": entries_value(connect.get("values"), v)} for k, v in pairs]
        except (TypeError, ValueError):
            raise DataException("A map value is neither an object nor a list of [key, value] "
                                "pairs") from None
    return value


def has_entry_maps(connect: Schema | None) -> bool:
    """Whether any map in the schema needs ``entries_value`` (most schemas: no walk at all)."""
    if not isinstance(connect, Mapping):
        return False
    t = connect.get("type")
    if t == "map":
        return not _string_keys(connect) or has_entry_maps(connect.get("values"))
    if t == "array":
        return has_entry_maps(connect.get("items"))
    if t == "struct":
        return any(has_entry_maps(f) for f in connect.get("fields", []))
    return False


def avro_schema(connect: Schema, names: _Names | None = None) -> Any:
    """Kafka Connect schema (``JsonConverter``'s JSON form) -> Avro schema, as ``AvroData``."""
    names = names or _Names()
    t = str(connect.get("type"))
    base: dict[str, Any]
    if t in _AVRO_PRIMITIVES:
        base = {"type": _AVRO_PRIMITIVES[t]}
    elif t == "array":
        base = {"type": "array", "items": avro_schema(connect["items"], names)}
    elif t == "map" and _string_keys(connect):
        base = {"type": "map", "values": avro_schema(connect["values"], names)}
    elif t == "map":  # Avro maps have string keys: other maps are arrays of entries
        base = {"type": "array", "items": {
            "type": "record", "name": "MapEntry", "namespace": AVRO_NAMESPACE, "fields": [
                _avro_field("key", connect["keys"], names),
                _avro_field("value", connect["values"], names)]}}
    elif t == "struct":
        if connect.get("name"):
            namespace, simple = split_name(str(connect["name"]))
        else:
            namespace, simple = AVRO_NAMESPACE, names.next()
        base = {"type": "record", "name": simple, "fields": []}
        if namespace:
            base["namespace"] = namespace
        base["fields"] = [_avro_field(f["field"], f, names) for f in connect.get("fields", [])]
    else:
        raise DataException(f"Unsupported schema type for Avro: {t}")
    base.update(_connect_meta(connect))
    if t in ("int8", "int16"):
        base["connect.type"] = t
    base.update(_avro_logical(connect, t))
    avro: Any = base["type"] if len(base) == 1 else base
    if not connect.get("optional"):
        return avro
    return [avro, "null"] if connect.get("default") is not None else ["null", avro]


def arrow_type(connect: Schema) -> Any:
    """The Arrow type Parquet stores a Connect type as (Confluent's Avro-to-Parquet mapping)."""
    import pyarrow as pa

    t = str(connect.get("type"))
    name = str(connect.get("name") or "")
    if name == _LOGICAL + "Timestamp" and t == "int64":
        return pa.timestamp("ms", tz="UTC")
    if name == _LOGICAL + "Date" and t == "int32":
        return pa.date32()
    if name == _LOGICAL + "Time" and t == "int32":
        return pa.time32("ms")
    simple = {"int8": pa.int32(), "int16": pa.int32(), "int32": pa.int32(),
              "int64": pa.int64(), "float32": pa.float32(), "float64": pa.float64(),
              "boolean": pa.bool_(), "string": pa.string(), "bytes": pa.binary()}
    if t in simple:
        return simple[t]
    if t == "array":
        items = connect["items"]
        return pa.list_(pa.field("element", arrow_type(items),
                                 nullable=bool(items.get("optional"))))
    if t == "map" and not _string_keys(connect):
        return pa.list_(pa.field("element", pa.struct([
            pa.field("key", arrow_type(connect["keys"]),
                     nullable=bool(connect["keys"].get("optional"))),
            pa.field("value", arrow_type(connect["values"]),
                     nullable=bool(connect["values"].get("optional")))]), nullable=False))
    if t == "map":
        values = connect["values"]
        return pa.map_(pa.string(), pa.field("value", arrow_type(values),
                                             nullable=bool(values.get("optional"))))
    if t == "struct":
        return pa.struct(arrow_fields(connect))
    raise DataException(f"Unsupported schema type for Parquet: {t}")


def arrow_fields(connect: Schema) -> list[Any]:
    import pyarrow as pa

    return [pa.field(f["field"], arrow_type(f), nullable=bool(f.get("optional")))
            for f in connect.get("fields", [])]


# ---- record views: what a value, keys or headers object holds for one record ---------------

HEADER_SCHEMA: dict[str, Any] = {"type": "array", "optional": False, "items": {
    "type": "struct", "optional": False, "fields": [
        {"field": "key", "type": "string", "optional": False},
        {"field": "value", "type": "string", "optional": False}]}}


def _header_text(value: Any) -> Any:
    """A header value as the string Confluent's ``Values.convertToString`` gives."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


def view(record: SinkRecord, kind: str, enveloped: bool) -> tuple[Schema | None, Any]:
    """(schema, value) of the record's ``value``, ``key`` or ``headers`` view.

    Parquet needs a struct at the root, so it asks for the enveloped view: keys become
    ``RecordKey{key}`` and headers ``RecordHeaders{headers}``, as in Confluent's sink.
    """
    if kind == "value":
        return record.value_schema, record.value
    if kind == "key":
        schema, value = record.key_schema, record.key
        if enveloped:
            inner = schema or infer_connect_schema(value)
            return ({"type": "struct", "name": "RecordKey", "optional": False,
                     "fields": [{"field": "key", **inner}]}, {"key": value})
        return schema, value
    headers = [{"key": h.key, "value": _header_text(h.value)} for h in record.headers]
    if enveloped:
        return ({"type": "struct", "name": "RecordHeaders", "optional": False,
                 "fields": [{"field": "headers", **HEADER_SCHEMA}]}, {"headers": headers})
    return HEADER_SCHEMA, headers
