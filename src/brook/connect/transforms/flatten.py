"""Flatten: nested structs (or maps) become top-level fields named ``outer<delimiter>inner``.

A field inside an optional struct is optional in the result (the struct being null leaves it
null); arrays and maps inside structs, like primitives, are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from brook.connect.api import ConfigDef, ConfigKey, DataException, Importance, Type
from brook.connect.transforms.base import (
    KeyOrValue,
    R,
    Schema,
    as_field,
    copy_basics,
    fields_of,
    key_and_value,
    optional,
    parse_config,
    require_map_or_null,
    require_struct_or_null,
)
from brook.connect.transforms.fields import REPLACE_NULL


class Flatten(KeyOrValue):
    """Flatten a nested data structure, generating names for each field by concatenating the
    field names at each level with a configurable delimiter character. Applies to Struct when
    schema present, or a Map in the case of schemaless data. Array fields and their contents are
    not modified. The default delimiter is '.'."""

    PURPOSE = "flattening"
    CONFIG_DEF = ConfigDef([
        ConfigKey("delimiter", Type.STRING, ".", Importance.MEDIUM,
                  "Delimiter to insert between field names from the input record when "
                  "generating field names for the output record"),
        REPLACE_NULL,
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.delimiter = str(c["delimiter"])
        self.replace_null = bool(c["replace.null.with.default"])
        self.cache: dict[str, dict[str, Any]] = {}

    def _name(self, prefix: str, name: str) -> str:
        return name if not prefix else prefix + self.delimiter + name

    def _flat_map(self, value: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
        for k, v in value.items():
            name = self._name(prefix, str(k))
            if isinstance(v, dict):
                self._flat_map(v, name, out)
            elif v is None or isinstance(v, bool | int | float | str | bytes | list):
                out[name] = v
            else:
                raise DataException(f"Flatten transformation does not support "
                                    f"{type(v).__name__} for record without schemas (for field "
                                    f"{name}).")

    def _flat_schema(self, s: Schema, prefix: str, parent_optional: bool,
                     out: list[dict[str, Any]]) -> None:
        for f in fields_of(s):
            name = self._name(prefix, str(f["field"]))
            is_optional = parent_optional or optional(f)
            if f.get("type") == "struct":
                self._flat_schema(f, name, is_optional, out)
            elif f.get("type") == "map":
                raise DataException(f"Flatten transformation does not support MAP for record "
                                    f"with schemas (for field {name}).")
            else:
                out.append(as_field(name, {**f, "optional": is_optional}))

    def _flat_struct(self, s: Schema, value: Mapping[str, Any] | None, prefix: str,
                     out: dict[str, Any]) -> None:
        for f in fields_of(s):
            name = self._name(prefix, str(f["field"]))
            v = None if value is None else value.get(str(f["field"]))
            if v is None and value is not None and self.replace_null:
                v = f.get("default")
            if f.get("type") == "struct":
                self._flat_struct(f, v, name, out)
            else:
                out[name] = v

    def apply(self, record: R) -> R | None:
        s = self.operating_schema(record)
        value = self.operating_value(record)
        if s is None:
            m = require_map_or_null(value, self.PURPOSE)
            if m is None:
                return self.new_record(record, None, None)
            flat: dict[str, Any] = {}
            self._flat_map(m, "", flat)
            return self.new_record(record, None, flat)
        struct = require_struct_or_null(s, value, self.PURPOSE)
        key = json.dumps(s, sort_keys=True, default=str)
        if key not in self.cache:
            fields: list[dict[str, Any]] = []
            self._flat_schema(s, "", optional(s), fields)
            self.cache[key] = copy_basics(s, "struct", fields)
        if struct is None:
            return self.new_record(record, self.cache[key], None)
        out: dict[str, Any] = {}
        self._flat_struct(s, struct, "", out)
        return self.new_record(record, self.cache[key], out)


FlattenKey, FlattenValue = key_and_value(Flatten, "Flatten")
TRANSFORMATIONS = [FlattenKey, FlattenValue]
