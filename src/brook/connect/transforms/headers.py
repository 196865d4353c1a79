"""Header transformations: HeaderFrom (fields to headers), InsertHeader, DropHeaders.

Every transformation gets its own copy of the headers (Kafka's ``headers().duplicate()``), so a
record seen earlier in the chain, or by the error reporter, keeps the headers it had.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from brook.connect.api import (
    NO_DEFAULT,
    ConfigDef,
    ConfigException,
    ConfigKey,
    Headers,
    Importance,
    Type,
    one_of,
)
from brook.connect.transforms.base import (
    PACKAGE,
    KeyOrValue,
    R,
    Transformation,
    copy_basics,
    copy_headers,
    field_value,
    fields_of,
    key_and_value,
    non_empty_list,
    non_empty_values,
    parse_config,
    require_map,
    require_struct,
    with_headers,
)
from brook.connect.transforms.fields import REPLACE_NULL


def _same_length(values: Mapping[str, Any]) -> list[ConfigException]:
    if len(values.get("fields") or []) != len(values.get("headers") or []):
        msg = "'fields' config must have the same number of elements as 'headers' config."
        return [ConfigException("fields", ",".join(values.get("fields") or []), msg, msg)]
    return []


class HeaderFrom(KeyOrValue):
    """Moves or copies fields in the key/value of a record into that record's headers.
    Corresponding elements of fields and headers together identify a field and the header it
    should be moved or copied to."""

    CONFIG_DEF = ConfigDef([
        ConfigKey("fields", Type.LIST, NO_DEFAULT, Importance.HIGH,
                  "Field names in the record whose values are to be copied or moved to headers.",
                  non_empty_list),
        ConfigKey("headers", Type.LIST, NO_DEFAULT, Importance.HIGH,
                  "Header names, in the same order as the field names listed in the fields "
                  "configuration property.", non_empty_list),
        ConfigKey("operation", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "Either <code>move</code> if the fields are to be moved to the headers "
                  "(removed from the key/value), or <code>copy</code> if the fields are to be "
                  "copied to the headers (retained in the key/value).",
                  one_of("move", "copy", case_sensitive=True)),
        REPLACE_NULL,
    ])
    CONFIG_DEF.cross_checks.append(_same_length)

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.pairs = list(zip(c["fields"], c["headers"], strict=True))
        self.move = c["operation"] == "move"
        self.replace_null = bool(c["replace.null.with.default"])

    def apply(self, record: R) -> R | None:
        value = self.operating_value(record)
        s = self.operating_schema(record)
        headers = copy_headers(record)
        purpose = f"header {'move' if self.move else 'copy'}"
        if s is None:
            m = require_map(value, purpose)
            updated = dict(m)
            for f, h in self.pairs:
                headers.add(h, m.get(f))
                if self.move:
                    updated.pop(f, None)
            return with_headers(self.new_record(record, None, updated), headers)
        struct = require_struct(s, value, purpose)
        for f, h in self.pairs:
            headers.add(h, field_value(s, struct, f, self.replace_null))
        if not self.move:
            return with_headers(record, headers)
        moved = {f for f, _ in self.pairs}
        new_schema = copy_basics(s, "struct", [f for f in fields_of(s) if f["field"] not in moved])
        out = {str(f["field"]): field_value(s, struct, str(f["field"]), self.replace_null)
               for f in fields_of(s) if f["field"] not in moved}
        return with_headers(self.new_record(record, new_schema, out), headers)


HeaderFromKey, HeaderFromValue = key_and_value(HeaderFrom, "HeaderFrom")


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?[0-9]+[eE][+-]?[0-9]+")


def parse_literal(text: str) -> Any:
    """Kafka's ``Values.parseString`` for the literals people write: ``true``/``false`` as
    booleans, integers and decimals as numbers, anything else as the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _INTEGER.fullmatch(text) and -(1 << 63) <= int(text) < 1 << 63:
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text


def _not_null(name: str, value: Any) -> None:
    if value is None:
        raise ConfigException(name, value, "Value must be non-null")


class InsertHeader(Transformation):
    """Add a header to each record."""

    class_name = f"{PACKAGE}.InsertHeader"
    CONFIG_DEF = ConfigDef([
        ConfigKey("header", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "The name of the header.", _not_null),
        ConfigKey("value.literal", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "The literal value that is to be set as the header value on all records.",
                  _not_null),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.header, self.value = str(c["header"]), parse_literal(str(c["value.literal"]))

    def apply(self, record: R) -> R | None:
        return with_headers(record, copy_headers(record).add(self.header, self.value))


class DropHeaders(Transformation):
    """Removes one or more headers from each record."""

    class_name = f"{PACKAGE}.DropHeaders"
    CONFIG_DEF = ConfigDef([
        ConfigKey("headers", Type.LIST, NO_DEFAULT, Importance.HIGH,
                  "The name of the headers to be removed.", non_empty_values),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.headers = set(parse_config(self.CONFIG_DEF, configs)["headers"])

    def apply(self, record: R) -> R | None:
        kept = Headers([h for h in record.headers if h.key not in self.headers])
        return with_headers(record, kept)


TRANSFORMATIONS: list[type[Transformation]] = [HeaderFromKey, HeaderFromValue, InsertHeader,
                                               DropHeaders]
