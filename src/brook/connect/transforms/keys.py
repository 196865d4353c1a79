"""Transformations that move data between key, value and a wrapper: ValueToKey, ExtractField,
HoistField.

ExtractField reads one field (or, with ``field.syntax.version=V2``, a dotted path into nested
structs/maps, Kafka's KIP-821) and makes it the whole key/value; HoistField does the reverse;
ValueToKey builds the key from fields of the value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from brook.connect.api import (
    NO_DEFAULT,
    ConfigDef,
    ConfigKey,
    DataException,
    Importance,
    Type,
    non_empty_string,
    one_of,
)
from brook.connect.transforms.base import (
    KeyOrValue,
    R,
    Schema,
    Transformation,
    as_field,
    field_schema,
    field_value,
    key_and_value,
    non_empty_values,
    parse_config,
    require_map,
    require_map_or_null,
    require_struct,
    require_struct_or_null,
    schema,
)
from brook.connect.transforms.fields import REPLACE_NULL

FIELD_SYNTAX = ConfigKey(
    "field.syntax.version", Type.STRING, "V1", Importance.HIGH,
    "Defines the version of the syntax to access fields. If set to `V1`, then the field paths "
    "are limited to access the elements at the root level of the struct or map. If set to `V2`, "
    "the syntax will support accessing nested elements: separate fields with dots.",
    one_of("V1", "V2"))


def _path(field: str, syntax: str) -> list[str]:
    """A V2 path splits on dots; a backtick-quoted segment keeps its dots (as Kafka's)."""
    if syntax.upper() != "V2":
        return [field]
    parts: list[str] = []
    current, quoted = "", False
    for ch in field:
        if ch == "`":
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


class ValueToKey(Transformation):
    """Replace the record key with a new key formed from a subset of fields in the record value."""

    class_name = "org.apache.kafka.connect.transforms.ValueToKey"
    PURPOSE = "copying fields from value to key"
    CONFIG_DEF = ConfigDef([
        ConfigKey("fields", Type.LIST, NO_DEFAULT, Importance.HIGH,
                  "Field names on the record value to extract as the record key.",
                  non_empty_values),
        REPLACE_NULL,
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.fields = list(c["fields"])
        self.replace_null = bool(c["replace.null.with.default"])

    def apply(self, record: R) -> R | None:
        s = record.value_schema
        if s is None:
            value = require_map(record.value, self.PURPOSE)
            return dataclasses.replace(record, key_schema=None,
                                       key={f: value.get(f) for f in self.fields})
        struct = require_struct(s, record.value, self.PURPOSE)
        fields = []
        for f in self.fields:
            fs = field_schema(s, f)
            if fs is None:
                raise DataException(f"Field does not exist: {f}")
            fields.append(as_field(f, fs))
        key_schema = schema("struct", False, fields=fields)
        key = {f: field_value(s, struct, f, self.replace_null) for f in self.fields}
        return dataclasses.replace(record, key_schema=key_schema, key=key)


class ExtractField(KeyOrValue):
    """Extract the specified field from a Struct when schema present, or a Map in the case of
    schemaless data. Any null values are passed through unmodified."""

    PURPOSE = "field extraction"
    CONFIG_DEF = ConfigDef([
        FIELD_SYNTAX,
        ConfigKey("field", Type.STRING, NO_DEFAULT, Importance.MEDIUM,
                  "Field name to extract.", non_empty_string),
        REPLACE_NULL,
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.field = str(c["field"])
        self.path = _path(self.field, str(c["field.syntax.version"]))
        self.replace_null = bool(c["replace.null.with.default"])

    def apply(self, record: R) -> R | None:
        s = self.operating_schema(record)
        value = self.operating_value(record)
        if s is None:
            current: Any = require_map_or_null(value, self.PURPOSE)
            for i, part in enumerate(self.path):
                if current is None:
                    break
                current = current.get(part)
                if i < len(self.path) - 1 and current is not None and not isinstance(current, dict):
                    current = None
            return self.new_record(record, None, current)
        struct = require_struct_or_null(s, value, self.PURPOSE)
        cur_schema: Schema = s
        cur: Any = struct
        for part in self.path:
            fs = field_schema(cur_schema, part) if cur_schema.get("type") == "struct" else None
            if fs is None:
                raise DataException(f"Unknown field: {self.field}")
            cur = None if cur is None else field_value(cur_schema, cur, part, self.replace_null)
            cur_schema = fs
        return self.new_record(record, cur_schema, cur)


class HoistField(KeyOrValue):
    """Wrap data using the specified field name in a Struct when schema present, or a Map in the
    case of schemaless data."""

    CONFIG_DEF = ConfigDef([
        ConfigKey("field", Type.STRING, NO_DEFAULT, Importance.MEDIUM,
                  "Field name for the single field that will be created in the resulting Struct "
                  "or Map."),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.field = str(parse_config(self.CONFIG_DEF, configs)["field"])

    def apply(self, record: R) -> R | None:
        s = self.operating_schema(record)
        value = self.operating_value(record)
        if s is None:
            return self.new_record(record, None, {self.field: value})
        wrapped = schema("struct", False, fields=[as_field(self.field, s)])
        return self.new_record(record, wrapped, {self.field: value})


ExtractFieldKey, ExtractFieldValue = key_and_value(ExtractField, "ExtractField")
HoistFieldKey, HoistFieldValue = key_and_value(HoistField, "HoistField")
TRANSFORMATIONS: list[type[Transformation]] = [
    ValueToKey, ExtractFieldKey, ExtractFieldValue, HoistFieldKey, HoistFieldValue]
