"""``schema.compatibility``: when a record's value schema starts a new file, and projection.

Confluent's ``StorageSchemaCompatibility``, for the value schema only:

* ``NONE`` (default): any schema different from the open file's starts a new file.
* ``BACKWARD`` and ``FULL``: a record with a *newer* schema version starts a new file; a record
  with an older (or the same) version is projected to the file's schema and written there.
* ``FORWARD``: a record with an *older* version starts a new file; a newer one is projected to
  the file's schema.

Projection is Kafka's ``SchemaProjector``: a field the file's schema has and the record's lacks
gets its default (or null when optional; a required one without default fails the task), a field
only the record has is dropped, numbers are widened. Without ``version`` in both schemas,
BACKWARD, FORWARD and FULL fail the task, as Confluent's sink does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brook.connect.api import DataException

Schema = Mapping[str, Any]
MODES = ("NONE", "BACKWARD", "FORWARD", "FULL")
_NUMERIC = ["int8", "int16", "int32", "int64", "float32", "float64"]
_PYTHON: dict[str, type | tuple[type, ...]] = {"struct": Mapping, "map": Mapping, "array": list}


class Compatibility:
    def __init__(self, mode: str) -> None:
        self.mode = mode.upper() if mode.upper() in MODES else "NONE"

    def should_change(self, schema: Schema | None, current: Schema | None) -> bool:
        if schema is None and current is None:
            return False
        if schema is None or current is None:
            raise DataException("Switch between schema-based and schema-less data is not "
                                "supported")
        if self.mode == "NONE":
            return dict(schema) != dict(current)
        mine, theirs = schema.get("version"), current.get("version")
        if mine is None or theirs is None:
            raise DataException(f"Schema version required for {self.mode} compatibility")
        if self.mode == "FORWARD":
            return int(mine) < int(theirs)
        return int(mine) > int(theirs)

    def project(self, schema: Schema | None, value: Any, current: Schema | None) -> Any:
        """``value`` (of ``schema``) as a value of the file's schema ``current``."""
        if self.mode == "NONE" or schema is None or current is None or \
                dict(schema) == dict(current):
            return value
        return project(schema, value, current)


def project(source: Schema, value: Any, target: Schema) -> Any:
    s_type, t_type = source.get("type"), target.get("type")
    if s_type != t_type and not (s_type in _NUMERIC and t_type in _NUMERIC
                                 and _NUMERIC.index(s_type) <= _NUMERIC.index(t_type)):
        raise DataException(f"Schema type mismatch. source type: {s_type} and target type: "
                            f"{t_type}")
    if source.get("name") != target.get("name"):
        raise DataException(f"Schema name mismatch. source name: {source.get('name')} and "
                            f"target name: {target.get('name')}")
    if value is None:
        if target.get("optional"):
            return target.get("default")
        raise DataException("Source value is null but target schema is required")
    expected = _PYTHON.get(str(t_type))
    if expected is not None and not isinstance(value, expected):
        raise DataException(f"Value of type {type(value).__name__} does not match its "
                            f"{t_type} schema")
    if t_type == "struct":
        fields = {f["field"]: f for f in source.get("fields", [])}
        out: dict[str, Any] = {}
        for f in target.get("fields", []):
            name = f["field"]
            if name in fields:
                out[name] = project(fields[name], value.get(name), f)
            elif f.get("default") is not None:
                out[name] = f["default"]
            elif f.get("optional"):
                out[name] = None
            else:
                raise DataException(f"Required field `{name}` is missing from source schema")
        return out
    if t_type == "array":
        return [project(source["items"], v, target["items"]) for v in value]
    if t_type == "map":
        return {k: project(source["values"], v, target["values"]) for k, v in value.items()}
    if t_type in ("float32", "float64") and s_type != t_type:
        return float(value)
    return value
