"""What every transformation and predicate is, and the helpers Kafka's ``transforms.util`` has.

A ``Transformation`` (Kafka's ``org.apache.kafka.connect.transforms.Transformation``) is
configured once per task with its ``transforms.<alias>.*`` keys (prefix removed) and then
turns one record into another, or into ``None`` to drop it. A ``Predicate`` decides whether
a transformation applies to a record. Both declare their keys in a ``ConfigDef`` so that the
validate endpoint reports a bad key under ``transforms.<alias>.<key>``, as Kafka does.

Records carry Connect data the way brook models it (``brook.connect.api.records``): a schema
is the JSON converter's schema object (``{"type": "struct", "fields": [...]}``) and a struct
value is a ``dict`` keyed by field name; logical types keep their encoded form (a
``Timestamp`` is an ``int`` of milliseconds). Schemaless records have ``None`` schemas and
``dict`` maps. Transformations that work on the key or the value come as a ``$Key`` and a
``$Value`` class, as in Kafka; ``KeyOrValue`` is the part they share.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import brook
from brook.connect.api import (
    ConfigDef,
    ConfigException,
    ConnectRecord,
    DataException,
    Headers,
    SinkRecord,
)

R = TypeVar("R", bound=ConnectRecord)
Schema = Mapping[str, Any]
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
DECIMAL = "org.apache.kafka.connect.data.Decimal"
PACKAGE = "org.apache.kafka.connect.transforms"
PREDICATES_PACKAGE = "org.apache.kafka.connect.transforms.predicates"


class Transformation:
    """Kafka's ``Transformation``: ``config``, ``configure``, ``apply``, ``close``."""

    class_name: ClassVar[str] = ""
    """The Kafka class name users write in ``transforms.<alias>.type``."""
    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()

    def version(self) -> str:
        return brook.__version__

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any]) -> None:
        """Parse the alias's keys; a bad one raises ``ConfigException``."""

    def apply(self, record: R) -> R | None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Predicate:
    """Kafka's ``Predicate``: whether a (predicated) transformation applies to a record."""

    class_name: ClassVar[str] = ""
    CONFIG_DEF: ClassVar[ConfigDef] = ConfigDef()

    def version(self) -> str:
        return brook.__version__

    def config(self) -> ConfigDef:
        return self.CONFIG_DEF

    def configure(self, configs: Mapping[str, Any]) -> None:
        pass

    def test(self, record: ConnectRecord) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        pass


def parse_config(config_def: ConfigDef, configs: Mapping[str, Any]) -> dict[str, Any]:
    """``SimpleConfig``: the parsed values, or the first error as ``ConfigException``."""
    return config_def.parse({str(k): v for k, v in configs.items()})


class KeyOrValue(Transformation):
    """The half of a transformation that picks the key or the value (Kafka's nested classes)."""

    operates_on: ClassVar[str] = "value"

    def operating_schema(self, record: ConnectRecord) -> Schema | None:
        return record.key_schema if self.operates_on == "key" else record.value_schema

    def operating_value(self, record: ConnectRecord) -> Any:
        return record.key if self.operates_on == "key" else record.value

    def new_record(self, record: R, schema: Schema | None, value: Any) -> R:
        if self.operates_on == "key":
            return dataclasses.replace(record, key_schema=schema, key=value)
        return dataclasses.replace(record, value_schema=schema, value=value)


def key_and_value(base: type[KeyOrValue], name: str) -> tuple[type[KeyOrValue], type[KeyOrValue]]:
    """The ``Name$Key`` and ``Name$Value`` classes of a transformation."""
    made = []
    for which in ("Key", "Value"):
        cls = type(f"{base.__name__}{which}", (base,),
                   {"operates_on": which.lower(), "class_name": f"{PACKAGE}.{name}${which}",
                    "__module__": base.__module__, "__doc__": base.__doc__})
        made.append(cls)
    return made[0], made[1]


def with_headers(record: R, headers: Headers) -> R:
    return dataclasses.replace(record, headers=headers)


def copy_headers(record: ConnectRecord) -> Headers:
    return Headers(list(record.headers.items))


# Kafka's Requirements ---------------------------------------------------------------------

_JAVA_TYPES = {dict: "java.util.HashMap", str: "java.lang.String", int: "java.lang.Long",
               float: "java.lang.Double", bool: "java.lang.Boolean", bytes: "[B",
               list: "java.util.ArrayList"}


def java_class(value: Any) -> str:
    """``nullSafeClassName``: what Kafka's messages would name the value's type."""
    if value is None:
        return "null"
    return _JAVA_TYPES.get(type(value), type(value).__name__)


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataException(f"Only Map objects supported in absence of schema for [{purpose}], "
                            f"found: {java_class(value)}")
    return value


def require_map_or_null(value: Any, purpose: str) -> dict[str, Any] | None:
    return None if value is None else require_map(value, purpose)


def require_struct(schema: Schema | None, value: Any, purpose: str) -> dict[str, Any]:
    if schema is None or schema.get("type") != "struct" or not isinstance(value, dict):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: "
                            f"{java_class(value)}")
    return value


def require_struct_or_null(schema: Schema | None, value: Any, purpose: str) -> dict[str, Any] | None:
    return None if value is None else require_struct(schema, value, purpose)


def require_sink_record(record: ConnectRecord, purpose: str) -> SinkRecord:
    if not isinstance(record, SinkRecord):
        raise DataException(f"Only SinkRecord supported for [{purpose}], found: "
                            f"{type(record).__name__}")
    return record


# Schemas as the JSON converter writes them ------------------------------------------------

_JAVA_NAMED_GROUP = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>")
_JAVA_BACKREF = re.compile(r"\\k<([A-Za-z][A-Za-z0-9]*)>")


def java_regex(pattern: str) -> re.Pattern[str]:
    """A Java regular expression compiled by Python: Java's ``(?<name>...)`` groups and
    ``\\k<name>`` references in Python's spelling (the rest of the common syntax is shared)."""
    translated = _JAVA_NAMED_GROUP.sub(r"(?P<\1>", pattern)
    return re.compile(_JAVA_BACKREF.sub(r"(?P=\1)", translated))


def schema(type_: str, optional: bool = False, name: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_, "optional": optional}
    if name is not None:
        out["name"] = name
    out.update(extra)
    return out


def optional(s: Schema | None) -> bool:
    return bool(s is not None and s.get("optional", False))


def fields_of(s: Schema) -> list[dict[str, Any]]:
    """A struct schema's fields, each ``{"field": name, <its schema>}``."""
    return [dict(f) for f in s.get("fields", []) if isinstance(f, Mapping)]


def field_schema(s: Schema, name: str) -> dict[str, Any] | None:
    for f in fields_of(s):
        if f.get("field") == name:
            return {k: v for k, v in f.items() if k != "field"}
    return None


def as_field(name: str, s: Schema) -> dict[str, Any]:
    return {**{k: v for k, v in s.items() if k != "field"}, "field": name}


def copy_basics(source: Schema, type_: str, fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``SchemaUtil.copySchemaBasics``: name, version, doc and parameters onto a new type.

    Not ``optional``: like Kafka's, the new schema is required unless the caller says
    otherwise (only Cast carries optionality over)."""
    out: dict[str, Any] = {"type": type_}
    for k in ("name", "version", "doc", "parameters"):
        if k in source:
            out[k] = source[k]
    if fields is not None:
        out["fields"] = fields
    out["optional"] = False
    return out


def struct_value(s: Schema, value: Mapping[str, Any], replace_null_with_default: bool = True) -> dict[str, Any]:
    """The struct's field values in schema order; a null field takes the field's default when
    ``replace.null.with.default`` is on (Kafka's ``Struct.get`` versus ``getWithoutDefault``)."""
    out: dict[str, Any] = {}
    for f in fields_of(s):
        name = str(f.get("field"))
        v = value.get(name)
        if v is None and replace_null_with_default:
            v = f.get("default")
        out[name] = v
    return out


def field_value(s: Schema, value: Mapping[str, Any], name: str, replace_null_with_default: bool) -> Any:
    v = value.get(name)
    if v is None and replace_null_with_default:
        fs = field_schema(s, name)
        if fs is not None:
            return fs.get("default")
    return v


def non_empty_list(name: str, value: Any) -> None:
    """Kafka's ``NonEmptyListValidator``."""
    if not value:
        raise ConfigException(name, "[]", "Empty list")


def non_empty_values(name: str, value: Any) -> None:
    """Kafka's ``ValidList.anyNonDuplicateValues(false, false)`` (its wording)."""
    if not value:
        msg = f"Configuration '{name}' must not be empty. Valid values include: any non-empty value"
        raise ConfigException(name, "[]", msg, msg)


def required_field_syntax(name: str, value: Any) -> None:
    if str(value) not in ("V1", "V2"):
        raise ConfigException(name, value, "String must be one of: V1, V2")
