"""Transformations that add, drop, rename or blank fields: InsertField, ReplaceField, MaskField.

Each works on schemaless maps and on structs (a new struct schema is derived from the record's
and cached per schema, as Kafka caches it). A record whose key/value is ``None`` (a tombstone)
passes through untouched, as in Kafka.
"""

from __future__ import annotations

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
    non_empty_string,
)
from brook.connect.transforms.base import (
    TIMESTAMP,
    KeyOrValue,
    R,
    Schema,
    as_field,
    copy_basics,
    fields_of,
    java_class,
    key_and_value,
    non_empty_values,
    parse_config,
    require_map,
    require_sink_record,
    require_struct,
    schema,
    struct_value,
)

REPLACE_NULL = ConfigKey(
    "replace.null.with.default", Type.BOOLEAN, True, Importance.MEDIUM,
    "Whether to replace fields that have a default value and that are null to the default value. "
    "When set to true, the default value is used, otherwise null is used.")


def _cache_key(s: Schema) -> str:
    return json.dumps(s, sort_keys=True, default=str)


# InsertField -----------------------------------------------------------------------------

def _insertion(spec: str | None) -> tuple[str, bool] | None:
    """``InsertionSpec``: a trailing ``!`` makes the field required, ``?`` (or none) optional."""
    if spec is None:
        return None
    if spec.endswith("!"):
        return spec[:-1], False
    if spec.endswith("?"):
        return spec[:-1], True
    return spec, True


def _insert_checks(values: Mapping[str, Any]) -> list[ConfigException]:
    fields = [values.get(k) for k in ("topic.field", "partition.field", "offset.field",
                                      "timestamp.field", "static.field")]
    if all(f is None for f in fields):
        return [ConfigException("topic.field", None, "No field insertion configured",
                                "No field insertion configured")]
    if values.get("static.field") is not None and values.get("static.value") is None:
        return [ConfigException("static.value", "null", "No value specified for static field: "
                                f"{values['static.field']}")]
    return []


class InsertField(KeyOrValue):
    """Insert field(s) using attributes from the record metadata or a configured static value."""

    PURPOSE = "field insertion"
    CONFIG_DEF = ConfigDef([
        ConfigKey("topic.field", Type.STRING, None, Importance.MEDIUM,
                  "Field name for Kafka topic. Suffix with ! to make this a required field, "
                  "or ? to keep it optional (the default)."),
        ConfigKey("partition.field", Type.STRING, None, Importance.MEDIUM,
                  "Field name for Kafka partition."),
        ConfigKey("offset.field", Type.STRING, None, Importance.MEDIUM,
                  "Field name for Kafka offset - only applicable to sink connectors."),
        ConfigKey("timestamp.field", Type.STRING, None, Importance.MEDIUM,
                  "Field name for record timestamp."),
        ConfigKey("static.field", Type.STRING, None, Importance.MEDIUM,
                  "Field name for static data field."),
        ConfigKey("static.value", Type.STRING, None, Importance.MEDIUM, "Static field value."),
        REPLACE_NULL,
    ])
    CONFIG_DEF.cross_checks.append(_insert_checks)

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.topic = _insertion(c["topic.field"])
        self.partition = _insertion(c["partition.field"])
        self.offset = _insertion(c["offset.field"])
        self.timestamp = _insertion(c["timestamp.field"])
        self.static = _insertion(c["static.field"])
        self.static_value = c["static.value"]
        self.replace_null = bool(c["replace.null.with.default"])
        self.cache: dict[str, dict[str, Any]] = {}

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        s = self.operating_schema(record)
        if s is None:
            updated = dict(require_map(value, self.PURPOSE))
            if self.topic:
                updated[self.topic[0]] = record.topic
            if self.partition:
                updated[self.partition[0]] = record.kafka_partition
            if self.offset:
                updated[self.offset[0]] = require_sink_record(record, self.PURPOSE).kafka_offset
            if self.timestamp:
                updated[self.timestamp[0]] = record.timestamp
            if self.static:
                updated[self.static[0]] = self.static_value
            return self.new_record(record, None, updated)
        struct = require_struct(s, value, self.PURPOSE)
        new_schema = self._schema(s)
        out = struct_value(s, struct, self.replace_null)
        if self.topic:
            out[self.topic[0]] = record.topic
        if self.partition and record.kafka_partition is not None:
            out[self.partition[0]] = record.kafka_partition
        if self.offset:
            out[self.offset[0]] = require_sink_record(record, self.PURPOSE).kafka_offset
        if self.timestamp and record.timestamp is not None:
            out[self.timestamp[0]] = record.timestamp
        if self.static:
            out[self.static[0]] = self.static_value
        return self.new_record(record, new_schema, out)

    def _schema(self, s: Schema) -> dict[str, Any]:
        key = _cache_key(s)
        if key not in self.cache:
            fields = fields_of(s)
            for spec, type_, name in ((self.topic, "string", None), (self.partition, "int32", None),
                                      (self.offset, "int64", None),
                                      (self.timestamp, "int64", TIMESTAMP),
                                      (self.static, "string", None)):
                if spec:
                    extra = {"version": 1} if name else {}
                    fields.append(as_field(spec[0], schema(type_, spec[1], name, **extra)))
            self.cache[key] = copy_basics(s, "struct", fields)
        return self.cache[key]


InsertFieldKey, InsertFieldValue = key_and_value(InsertField, "InsertField")


# ReplaceField ----------------------------------------------------------------------------

def _renames(name: str, value: Any) -> None:
    for mapping in value or []:
        if len(str(mapping).split(":")) != 2:
            raise ConfigException(name, f"[{', '.join(value)}]", f"Invalid rename mapping: {mapping}")


class ReplaceField(KeyOrValue):
    """Filter or rename fields."""

    PURPOSE = "field replacement"
    CONFIG_DEF = ConfigDef([
        ConfigKey("exclude", Type.LIST, [], Importance.MEDIUM,
                  "Fields to exclude. This takes precedence over the fields to include."),
        ConfigKey("include", Type.LIST, [], Importance.MEDIUM,
                  "Fields to include. If specified, only these fields will be used."),
        ConfigKey("renames", Type.LIST, [], Importance.MEDIUM,
                  "Field rename mappings.", _renames),
        REPLACE_NULL,
    ])
    DEPRECATED = {"blacklist": "exclude", "whitelist": "include"}

    def configure(self, configs: Mapping[str, Any]) -> None:
        configs = dict(configs)
        for old, new in self.DEPRECATED.items():
            if old in configs and new not in configs:
                configs[new] = configs.pop(old)
        c = parse_config(self.CONFIG_DEF, configs)
        self.exclude = set(c["exclude"])
        self.include = set(c["include"])
        self.renames = dict(str(m).split(":") for m in c["renames"])
        self.replace_null = bool(c["replace.null.with.default"])
        self.cache: dict[str, dict[str, Any]] = {}

    def _keep(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def _renamed(self, name: str) -> str:
        return self.renames.get(name, name)

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        s = self.operating_schema(record)
        if s is None:
            m = require_map(value, self.PURPOSE)
            return self.new_record(record, None, {self._renamed(k): v for k, v in m.items()
                                                  if self._keep(k)})
        struct = require_struct(s, value, self.PURPOSE)
        key = _cache_key(s)
        if key not in self.cache:
            self.cache[key] = copy_basics(s, "struct", [
                as_field(self._renamed(str(f["field"])), f) for f in fields_of(s)
                if self._keep(str(f["field"]))])
        full = struct_value(s, struct, self.replace_null)
        return self.new_record(record, self.cache[key], {
            self._renamed(k): v for k, v in full.items() if self._keep(k)})


ReplaceFieldKey, ReplaceFieldValue = key_and_value(ReplaceField, "ReplaceField")


# MaskField -------------------------------------------------------------------------------

_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT_RANGES = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}
_JAVA_BY_SCHEMA = {"int8": "java.lang.Byte", "int16": "java.lang.Short",
                   "int32": "java.lang.Integer", "int64": "java.lang.Long",
                   "float": "java.lang.Float", "double": "java.lang.Double",
                   "boolean": "java.lang.Boolean", "string": "java.lang.String",
                   "struct": "org.apache.kafka.connect.data.Struct"}


def _java_type(value: Any, field_type: str | None) -> str:
    """``value.getClass()`` as Kafka's messages print it."""
    return f"class {_JAVA_BY_SCHEMA.get(field_type or '') or java_class(value)}"


def _blank(value: Any) -> Any:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.0
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    raise DataException(f"Cannot mask value of type: {_java_type(value, None)}")


def _replace(value: Any, replacement: str, field_type: str | None) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise DataException(f"Cannot mask value of type {_java_type(value, field_type)} with "
                            f"custom replacement.")
    if isinstance(value, str):
        return replacement
    try:
        number = float(replacement.strip()) if not _INTEGER.fullmatch(replacement.strip()) \
            else int(replacement.strip())
        if isinstance(value, int):  # Java's Number.byteValue() & co: truncate, then wrap
            bits = _INT_RANGES.get(field_type or "int64", 64)
            n = int(number) & ((1 << bits) - 1)
            return n - (1 << bits) if n >= 1 << (bits - 1) else n
        return float(number)
    except (ValueError, OverflowError) as exc:
        raise DataException(f"Unable to convert {replacement} (class java.lang.String) to a "
                            "number") from exc


class MaskField(KeyOrValue):
    """Mask specified fields with a valid null value for the field type (i.e. 0, false, empty
    string, and so on), or with a custom replacement for numbers and strings."""

    PURPOSE = "mask fields"
    CONFIG_DEF = ConfigDef([
        ConfigKey("fields", Type.LIST, NO_DEFAULT, Importance.HIGH, "Names of fields to mask.",
                  non_empty_values),
        ConfigKey("replacement", Type.STRING, None, Importance.LOW,
                  "Custom value replacement, that will be applied to all 'fields' values "
                  "(numeric or non-empty string values only).", non_empty_string),
        REPLACE_NULL,
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.fields = list(c["fields"])
        self.replacement: str | None = c["replacement"]
        self.replace_null = bool(c["replace.null.with.default"])

    def _masked(self, value: Any, field_type: str | None) -> Any:
        if value is None:
            return None
        if self.replacement is None:
            if field_type == "struct":
                raise DataException(f"Cannot mask value of type: {_java_type(value, field_type)}")
            return _blank(value)
        return _replace(value, self.replacement, field_type)

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        if value is None:
            return record
        s = self.operating_schema(record)
        if s is None:
            m = require_map(value, self.PURPOSE)
            updated = dict(m)
            for f in self.fields:
                updated[f] = self._masked(m.get(f), None)
            return self.new_record(record, None, updated)
        struct = require_struct(s, value, self.PURPOSE)
        out = struct_value(s, struct, self.replace_null)
        types = {str(f["field"]): str(f.get("type")) for f in fields_of(s)}
        for f in self.fields:
            if f in out:
                out[f] = self._masked(out[f], types.get(f))
        return self.new_record(record, s, out)


MaskFieldKey, MaskFieldValue = key_and_value(MaskField, "MaskField")

TRANSFORMATIONS: list[type[KeyOrValue]] = [
    InsertFieldKey, InsertFieldValue, ReplaceFieldKey, ReplaceFieldValue,
    MaskFieldKey, MaskFieldValue]
