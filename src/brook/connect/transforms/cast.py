"""Cast: fields, or the whole key/value, to another primitive type, with Java's conversions.

Numbers narrow as Java's ``Number.byteValue()`` etc. do (truncation, then two's-complement
wrap-around); strings parse strictly (``Integer.parseInt``), and a string that does not parse,
or is out of range, fails the record with Kafka's message. Bytes cast only to a string (base64).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from brook.connect.api import (
    NO_DEFAULT,
    ConfigDef,
    ConfigException,
    ConfigKey,
    DataException,
    Importance,
    Type,
)
from brook.connect.transforms.base import (
    DATE,
    TIME,
    TIMESTAMP,
    KeyOrValue,
    R,
    Schema,
    as_field,
    copy_basics,
    fields_of,
    java_class,
    key_and_value,
    optional,
    parse_config,
    require_map,
    require_struct,
)
from brook.connect.transforms.fields import REPLACE_NULL

INPUT_TYPES = ["INT8", "INT16", "INT32", "INT64", "FLOAT32", "FLOAT64", "BOOLEAN", "STRING",
               "BYTES"]
OUTPUT_TYPES = INPUT_TYPES[:-1]
ALL_TYPES = [*INPUT_TYPES, "ARRAY", "MAP", "STRUCT"]
_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"\s*[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)[fFdD]?\s*")
WHOLE = ""
JSON_TYPE_NAMES = {"FLOAT32": "float", "FLOAT64": "double"}
"""The JsonConverter's schema names where they differ from Connect's type names."""
_FROM_JSON_NAMES = {"float": "FLOAT32", "double": "FLOAT64"}


def connect_type(s: Schema) -> str:
    """Connect's ``Schema.Type`` name of a schema object (``float`` -> ``FLOAT32``)."""
    name = str(s.get("type", ""))
    return _FROM_JSON_NAMES.get(name, name.upper())


def json_type(connect: str) -> str:
    return JSON_TYPE_NAMES.get(connect, connect.lower())


def parse_spec(name: str, mappings: list[str]) -> dict[str, str]:
    """``field:type`` pairs, or one bare type for the whole value; raises Kafka's messages."""
    if not mappings:
        raise ConfigException(name, "", "Must specify at least one field to cast.",
                              "Must specify at least one field to cast.")
    casts: dict[str, str] = {}
    whole = False
    for mapping in mappings:
        parts = mapping.split(":")
        if len(parts) > 2:
            # Kafka reports this one under "renames" (a slip in its Cast), with the list.
            raise ConfigException("renames", f"[{', '.join(mappings)}]",
                                  f"Invalid rename mapping: {mapping}")
        type_name = parts[-1].strip().upper()
        if type_name not in ALL_TYPES:
            # Kafka's wording: its ConfigException(name, value) constructor, given the message
            # as the name and the enum lookup's failure as the value.
            msg = (f"Invalid value java.lang.IllegalArgumentException: No enum constant org.apache"
                   f".kafka.connect.data.Schema.Type.{type_name} for configuration Invalid type "
                   f"found in casting spec: {parts[-1].strip()}")
            raise ConfigException(name, ",".join(mappings), msg, msg)
        if type_name not in OUTPUT_TYPES:
            msg = (f"Cast transformation does not support casting to {type_name}; supported "
                   f"types are [{', '.join(OUTPUT_TYPES)}]")
            raise ConfigException(name, ",".join(mappings), msg, msg)
        if len(parts) == 1:
            whole = True
            casts[WHOLE] = type_name
        else:
            casts[parts[0].strip()] = type_name
    if whole and len(mappings) > 1:
        msg = ("Cast transformations that specify a type to cast the entire value to may only "
               "specify a single cast in their spec")
        raise ConfigException(name, ",".join(mappings), msg, msg)
    return casts


def _check_spec(name: str, value: Any) -> None:
    parse_spec(name, list(value or []))


def _inferred(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, bytes | bytearray):
        return "BYTES"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "MAP"
    raise DataException(f"Cast transformation was passed a value of type {type(value).__name__} "
                        f"which is not supported by Connect's data API")


def _wrap(n: int, bits: int) -> int:
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >= 1 << (bits - 1) else n


def _java_double_str(f: float) -> str:
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    if f == int(f) and abs(f) < 1e7:
        return f"{f:.1f}"
    text = repr(f)
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exp)}"
    return text


def _logical_string(s: Schema | None, value: Any) -> str | None:
    name = s.get("name") if s is not None else None
    if not isinstance(value, int) or name not in (DATE, TIME, TIMESTAMP):
        return None
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if name == DATE:
        return (epoch + dt.timedelta(days=value)).strftime("%Y-%m-%d")
    when = epoch + dt.timedelta(milliseconds=value)
    ms = f"{when.microsecond // 1000:03d}"
    if name == TIME:
        return when.strftime("%H:%M:%S.") + ms
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + ms + "Z"


def cast_value(s: Schema | None, value: Any, target: str) -> Any:
    if value is None:
        return None
    source = connect_type(s) if s is not None else _inferred(value)
    if source not in INPUT_TYPES:
        raise DataException(f"Cast transformation does not support casting from {source}; "
                            f"supported types are [{', '.join(INPUT_TYPES)}]")
    if target == "STRING":
        logical = _logical_string(s, value)
        if logical is not None:
            return logical
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return _java_double_str(value)
        return str(value)
    if isinstance(value, bytes | bytearray):
        raise DataException(f"Unexpected type in Cast transformation: class {java_class(value)}")
    try:
        if target in _BITS:
            if isinstance(value, bool):
                return 1 if value else 0
            if isinstance(value, int | float):
                if isinstance(value, float) and value != value:
                    return 0
                return _wrap(int(max(min(value, 2.0 ** 63 - 1), -(2.0 ** 63))) if
                             isinstance(value, float) else value, _BITS[target])
            if not _INTEGER.fullmatch(value):
                raise ValueError
            n = int(value)
            if not -(1 << (_BITS[target] - 1)) <= n < 1 << (_BITS[target] - 1):
                raise ValueError
            return n
        if target in ("FLOAT32", "FLOAT64"):
            if isinstance(value, bool):
                return 1.0 if value else 0.0
            if isinstance(value, int | float):
                return float(value)
            if not _FLOAT.fullmatch(value):
                raise ValueError
            return float(value.strip().rstrip("fFdD").replace("Infinity", "inf"))
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return int(value) != 0
        return value.lower() == "true"  # Boolean.parseBoolean
    except ValueError as exc:
        raise DataException(f"Value ({value}) was out of range for requested data type") from exc


class Cast(KeyOrValue):
    """Cast fields or the entire key or value to a specific type, e.g. to force an integer field
    to a smaller width. Cast from integers, floats, boolean and string to any other type, and
    cast binary to string (base64 encoded)."""

    PURPOSE = "cast types"
    CONFIG_DEF = ConfigDef([
        ConfigKey("spec", Type.LIST, NO_DEFAULT, Importance.HIGH,
                  "List of fields and the type to cast them to of the form field1:type,"
                  "field2:type to cast fields of Maps or Structs. A single type to cast the entire "
                  "value. Valid types are int8, int16, int32, int64, float32, float64, boolean, "
                  "and string. Note that binary fields can only be cast to string.", _check_spec),
        REPLACE_NULL,
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.casts = parse_spec("spec", list(c["spec"]))
        self.whole = self.casts.get(WHOLE)
        self.replace_null = bool(c["replace.null.with.default"])
        self.cache: dict[str, dict[str, Any]] = {}

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        s = self.operating_schema(record)
        if s is None:
            if self.whole is not None:
                return self.new_record(record, None, cast_value(None, value, self.whole))
            m = require_map(value, self.PURPOSE)
            updated = dict(m)
            for name, t in self.casts.items():
                updated[name] = cast_value(None, m.get(name), t)
            return self.new_record(record, None, updated)
        new_schema = self._schema(s)
        if self.whole is not None:
            return self.new_record(record, new_schema, cast_value(s, value, self.whole))
        struct = require_struct(s, value, self.PURPOSE)
        out: dict[str, Any] = {}
        for f in fields_of(s):
            name = str(f["field"])
            v = struct.get(name)
            if v is None and self.replace_null:
                v = f.get("default")
            out[name] = cast_value(f, v, self.casts[name]) if name in self.casts else v
        return self.new_record(record, new_schema, out)

    def _schema(self, s: Schema) -> dict[str, Any]:
        key = json.dumps(s, sort_keys=True, default=str)
        if key in self.cache:
            return self.cache[key]
        if self.whole is not None:
            out = copy_basics(s, json_type(self.whole))
            out["optional"] = optional(s)
        else:
            fields = []
            for f in fields_of(s):
                name = str(f["field"])
                if name in self.casts:
                    nf: dict[str, Any] = {"type": json_type(self.casts[name]),
                                          "optional": optional(f)}
                    if f.get("default") is not None:
                        nf["default"] = cast_value(f, f["default"], self.casts[name])
                    fields.append(as_field(name, nf))
                else:
                    fields.append(f)
            out = copy_basics(s, "struct", fields)
            out["optional"] = optional(s)
        if s.get("default") is not None and self.whole is not None:
            out["default"] = cast_value(s, s["default"], self.whole)
        self.cache[key] = out
        return out


CastKey, CastValue = key_and_value(Cast, "Cast")
TRANSFORMATIONS = [CastKey, CastValue]
