"""Timestamps: TimestampConverter, TimestampRouter, and Java ``SimpleDateFormat`` patterns.

Kafka formats and parses with ``SimpleDateFormat`` in UTC; users' configs carry those patterns
(``yyyy-MM-dd'T'HH:mm:ss.SSSZ``), so ``JavaDateFormat`` reads that syntax (the letters
connectors use: ``y M d H h k K m s S a E D Z X z``, quoted literals) rather than Python's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
    one_of,
)
from brook.connect.transforms.base import (
    DATE,
    TIME,
    TIMESTAMP,
    KeyOrValue,
    R,
    Schema,
    Transformation,
    as_field,
    copy_basics,
    fields_of,
    key_and_value,
    optional,
    parse_config,
    require_map_or_null,
    require_struct_or_null,
    schema,
)
from brook.connect.transforms.fields import REPLACE_NULL

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
DAY_MS = 86_400_000
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_LETTERS = set("yYMdHhkKmsSaEDZXz")


class JavaDateFormat:
    """A ``SimpleDateFormat`` pattern, in UTC: ``format(millis)`` and ``parse(text)``."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.tokens: list[tuple[str, int | str]] = []  # (letter, count) or ("'", literal)
        i = 0
        while i < len(pattern):
            ch = pattern[i]
            if ch == "'":
                end = pattern.find("'", i + 1)
                if end < 0:
                    raise ValueError(f"Unterminated quote in pattern {pattern}")
                self.tokens.append(("'", pattern[i + 1:end] or "'"))
                i = end + 1
            elif ch.isalpha():
                j = i
                while j < len(pattern) and pattern[j] == ch:
                    j += 1
                if ch not in _LETTERS:
                    raise ValueError(f"Illegal pattern character '{ch}'")
                # Y is Java's week year: the calendar year except in the last days of December
                # and first of January; connectors use it where they mean y.
                self.tokens.append(("y" if ch == "Y" else ch, j - i))
                i = j
            else:
                self.tokens.append(("'", ch))
                i += 1
        self.regex = re.compile("".join(self._regex(t) for t in self.tokens))

    @staticmethod
    def _regex(token: tuple[str, int | str]) -> str:
        letter, n = token
        if letter == "'":
            return re.escape(str(n))
        count = int(n)
        if letter == "M" and count >= 3:
            return "(?P<Mt>[A-Za-z]+)"
        if letter == "E":
            return "[A-Za-z]+"
        if letter == "a":
            return "(?P<a>[AaPp][Mm])"
        if letter in "ZX":
            return "(?P<Z>Z|[+-][0-9]{2}:?(?:[0-9]{2})?)"
        if letter == "z":
            return "(?:UTC|GMT|Z)"
        width = f"{{{count}}}" if count > 1 else "+"
        return f"(?P<{letter}>[0-9]{width})"

    def format(self, millis: int) -> str:
        when = EPOCH + dt.timedelta(milliseconds=millis)
        out = []
        for letter, n in self.tokens:
            if letter == "'":
                out.append(str(n))
                continue
            count = int(n)
            if letter == "y":
                out.append(f"{when.year % 100:02d}" if count == 2 else f"{when.year:0{count}d}")
            elif letter == "M":
                out.append(_MONTHS[when.month - 1][:3] if count == 3 else _MONTHS[when.month - 1]
                           if count > 3 else f"{when.month:0{count}d}")
            elif letter == "E":
                out.append(_DAYS[when.weekday()] if count > 3 else _DAYS[when.weekday()][:3])
            else:
                value = {"d": when.day, "H": when.hour, "k": when.hour or 24,
                         "K": when.hour % 12, "h": when.hour % 12 or 12, "m": when.minute,
                         "s": when.second, "S": when.microsecond // 1000,
                         "D": when.timetuple().tm_yday}.get(letter)
                if letter == "a":
                    out.append("AM" if when.hour < 12 else "PM")
                elif letter in "ZX":
                    out.append("Z" if letter == "X" else "+0000")
                elif letter == "z":
                    out.append("UTC")
                else:
                    out.append(f"{value:0{count}d}")
        return "".join(out)

    def parse(self, text: str) -> int:
        m = self.regex.match(text)
        if m is None:
            raise DataException(f"Could not parse timestamp: value ({text}) does not match "
                                f"pattern ({self.pattern})")
        g = {k: v for k, v in m.groupdict().items() if v is not None}
        year = int(g.get("y", 1970))
        if len(g.get("y", "0000")) == 2:
            year += 2000
        month = int(g["M"]) if "M" in g else (
            [mo[:3].lower() for mo in _MONTHS].index(g["Mt"][:3].lower()) + 1 if "Mt" in g else 1)
        hour = int(g.get("H", g.get("k", 0))) % 24
        if "h" in g or "K" in g:
            hour = int(g.get("h", g.get("K", 0))) % 12 + (12 if g.get("a", "").upper() == "PM" else 0)
        base = dt.datetime(year, month, 1, tzinfo=dt.UTC)
        day = int(g["d"]) - 1 if "d" in g else (int(g["D"]) - 1 if "D" in g else 0)
        when = base + dt.timedelta(days=day, hours=hour, minutes=int(g.get("m", 0)),
                                   seconds=int(g.get("s", 0)), milliseconds=int(g.get("S", 0)))
        zone = g.get("Z", "Z")
        if zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = int(digits[:2]) * 60 + int(digits[2:4] or 0)
            when -= dt.timedelta(minutes=sign * offset)
        return (when - EPOCH) // dt.timedelta(milliseconds=1)


def _date_format(name: str, value: Any) -> None:
    if value:
        try:
            JavaDateFormat(str(value))
        except ValueError as exc:  # Kafka's own wording, which names the pattern's fault
            reason = ("TimestampConverter requires a SimpleDateFormat-compatible pattern for "
                      f"string timestamps: {value}")
            raise ConfigException(name, value, reason, "Invalid value java.lang."
                                  f"IllegalArgumentException: {exc} for configuration {reason}"
                                  ) from exc


TYPES = ("string", "unix", "Date", "Time", "Timestamp")
PRECISIONS = {"seconds": (1000, 1), "milliseconds": (1, 1), "microseconds": (1, 1000),
              "nanoseconds": (1, 1_000_000)}
"""``unix.precision``: a unix value times the first, divided by the second, is milliseconds."""


def _target_checks(values: Mapping[str, Any]) -> list[ConfigException]:
    if values.get("target.type") == "string" and not values.get("format"):
        msg = ("TimestampConverter requires format option to be specified when using string "
               "timestamps")
        return [ConfigException("format", values.get("format"), msg, msg)]
    return []


class TimestampConverter(KeyOrValue):
    """Convert timestamps between different formats such as Unix epoch, strings, and Connect
    Date/Timestamp types. Applies to individual fields or to the entire value."""

    PURPOSE = "converting timestamp formats"
    CONFIG_DEF = ConfigDef([
        ConfigKey("field", Type.STRING, "", Importance.HIGH,
                  "The field containing the timestamp, or empty if the entire value is a "
                  "timestamp"),
        ConfigKey("target.type", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "The desired timestamp representation: string, unix, Date, Time, or Timestamp",
                  one_of(*TYPES, case_sensitive=True)),
        ConfigKey("format", Type.STRING, "", Importance.MEDIUM,
                  "A SimpleDateFormat-compatible format for the timestamp. Used to generate the "
                  "output when type=string or used to parse the input if the input is a string.",
                  _date_format),
        ConfigKey("unix.precision", Type.STRING, "milliseconds", Importance.LOW,
                  "The desired Unix precision for the timestamp: seconds, milliseconds, "
                  "microseconds, or nanoseconds.", one_of(*PRECISIONS, case_sensitive=True)),
        REPLACE_NULL,
    ])
    CONFIG_DEF.cross_checks.append(_target_checks)

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.field = str(c["field"])
        self.target = str(c["target.type"])
        self.format = JavaDateFormat(str(c["format"])) if c["format"] else None
        self.precision = PRECISIONS[str(c["unix.precision"])]
        self.replace_null = bool(c["replace.null.with.default"])

    # value <-> millis ------------------------------------------------------------------

    def _to_millis(self, value: Any, kind: str) -> int:
        if kind == "string":
            if self.format is None:
                raise DataException("TimestampConverter requires format option to be specified "
                                    "when using string timestamps")
            return self.format.parse(str(value))
        if kind == "unix":
            return int(value) * self.precision[0] // self.precision[1]
        if kind == "Date":
            return int(value) * DAY_MS
        return int(value)

    def _from_millis(self, millis: int) -> Any:
        if self.target == "string":
            assert self.format is not None
            return self.format.format(millis)
        if self.target == "unix":
            return millis * self.precision[1] // self.precision[0]
        if self.target == "Date":
            return millis // DAY_MS
        if self.target == "Time":
            return millis % DAY_MS
        return millis

    def _target_schema(self, is_optional: bool) -> dict[str, Any]:
        if self.target == "string":
            return schema("string", is_optional)
        if self.target == "unix":
            return schema("int64", is_optional)
        name = {"Date": DATE, "Time": TIME, "Timestamp": TIMESTAMP}[self.target]
        return schema("int64" if self.target == "Timestamp" else "int32", is_optional, name,
                      version=1)

    @staticmethod
    def _kind_of_schema(s: Schema) -> str:
        name = s.get("name")
        if name == TIMESTAMP:
            return "Timestamp"
        if name == DATE:
            return "Date"
        if name == TIME:
            return "Time"
        if s.get("type") == "string":
            return "string"
        if s.get("type") == "int64":
            return "unix"
        raise DataException(f"Schema {dict(s)} does not correspond to a known timestamp type "
                            "format")

    @staticmethod
    def _kind_of_value(value: Any) -> str:
        if isinstance(value, str):
            return "string"
        if isinstance(value, int) and not isinstance(value, bool):
            return "unix"
        raise DataException(f"TimestampConverter does not support {type(value).__name__} "
                            "objects as timestamps")

    def _convert(self, value: Any, kind: str | None) -> Any:
        if value is None:
            return None
        return self._from_millis(self._to_millis(value, kind or self._kind_of_value(value)))

    def apply(self, record: R) -> R | None:
        s = self.operating_schema(record)
        value = self.operating_value(record)
        if s is None:
            if not self.field:
                return self.new_record(record, None, self._convert(value, None))
            m = require_map_or_null(value, self.PURPOSE)
            if m is None:
                return self.new_record(record, None, None)
            updated = dict(m)
            updated[self.field] = self._convert(m.get(self.field), None)
            return self.new_record(record, None, updated)
        if not self.field:
            return self.new_record(record, self._target_schema(optional(s)),
                                   self._convert(value, self._kind_of_schema(s)))
        struct = require_struct_or_null(s, value, self.PURPOSE)
        fields = []
        for f in fields_of(s):
            if f["field"] == self.field:
                fields.append(as_field(self.field, self._target_schema(optional(f))))
            else:
                fields.append(f)
        new_schema = {**copy_basics(s, "struct", fields), "optional": optional(s)}
        if struct is None:
            return self.new_record(record, new_schema, None)
        out: dict[str, Any] = {}
        for f in fields_of(s):
            name = str(f["field"])
            v = struct.get(name)
            if v is None and self.replace_null:
                v = f.get("default")
            out[name] = self._convert(v, self._kind_of_schema(f)) if name == self.field else v
        return self.new_record(record, new_schema, out)


TimestampConverterKey, TimestampConverterValue = key_and_value(TimestampConverter,
                                                               "TimestampConverter")


class TimestampRouter(Transformation):
    """Update the record's topic field as a function of the original topic value and the record
    timestamp. This is mainly useful for sink connectors, since the topic field is often used to
    determine the equivalent entity name in the destination system (e.g. database table or
    search index name)."""

    class_name = "org.apache.kafka.connect.transforms.TimestampRouter"
    CONFIG_DEF = ConfigDef([
        ConfigKey("topic.format", Type.STRING, "${topic}-${timestamp}", Importance.HIGH,
                  "Format string which can contain ${topic} and ${timestamp} as placeholders "
                  "for the topic and timestamp, respectively."),
        ConfigKey("timestamp.format", Type.STRING, "yyyyMMdd", Importance.HIGH,
                  "Format string for the timestamp that is compatible with "
                  "java.text.SimpleDateFormat.", _date_format),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.topic_format = str(c["topic.format"])
        self.timestamp_format = JavaDateFormat(str(c["timestamp.format"]))

    def apply(self, record: R) -> R | None:
        if record.timestamp is None:
            raise DataException(f"Timestamp missing on record: {record}")
        stamp = self.timestamp_format.format(record.timestamp)
        topic = self.topic_format.replace("${topic}", record.topic).replace("${timestamp}", stamp)
        return dataclasses.replace(record, topic=topic)


TRANSFORMATIONS: list[type[Transformation]] = [
    TimestampConverterKey, TimestampConverterValue, TimestampRouter]
