"""Where a record goes, or whether it goes at all: RegexRouter, Filter, and the predicates
TopicNameMatches, HasHeaderKey and RecordIsTombstone.

Kafka's regular expressions are Java's; ``RegexRouter`` needs the whole topic to match
(``Matcher.matches``) and its replacement uses Java's ``$1``/``${name}`` references, which
``java_replacement`` expands (a ``\\`` escapes the next character, as in Java).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from brook.connect.api import (
    NO_DEFAULT,
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConnectRecord,
    Importance,
    Type,
)
from brook.connect.transforms.base import (
    PREDICATES_PACKAGE,
    Predicate,
    R,
    Transformation,
    java_regex,
    parse_config,
)


def regex(name: str, value: Any) -> None:
    try:
        java_regex(str(value))
    except re.error as exc:
        raise ConfigException(name, value, f"Invalid regex: {exc}") from exc


def java_replacement(match: re.Match[str], replacement: str) -> str:
    """``Matcher.appendReplacement``: ``$n`` and ``${name}`` are groups, ``\\x`` is ``x``."""
    out: list[str] = []
    i = 0
    while i < len(replacement):
        ch = replacement[i]
        if ch == "\\" and i + 1 < len(replacement):
            out.append(replacement[i + 1])
            i += 2
        elif ch == "$" and i + 1 < len(replacement) and replacement[i + 1] == "{":
            end = replacement.find("}", i)
            if end < 0:
                raise IndexError("named capturing group is missing trailing '}'")
            out.append(match.group(replacement[i + 2:end]) or "")
            i = end + 1
        elif ch == "$":
            j = i + 1
            if j >= len(replacement) or not replacement[j].isdigit():
                raise IndexError("Illegal group reference")
            group = int(replacement[j])
            j += 1
            while j < len(replacement) and replacement[j].isdigit() and \
                    group * 10 + int(replacement[j]) <= (match.re.groups or 0):
                group = group * 10 + int(replacement[j])
                j += 1
            if group > (match.re.groups or 0):
                raise IndexError(f"No group {group}")
            out.append(match.group(group) or "")
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class RegexRouter(Transformation):
    """Update the record topic using the configured regular expression and replacement string.
    Under the hood, the regex is compiled to a java.util.regex.Pattern. If the pattern matches
    the input topic, java.util.regex.Matcher#replaceFirst() is used with the replacement string
    to obtain the new topic."""

    class_name = "org.apache.kafka.connect.transforms.RegexRouter"
    CONFIG_DEF = ConfigDef([
        ConfigKey("regex", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "Regular expression to use for matching.", regex),
        ConfigKey("replacement", Type.STRING, NO_DEFAULT, Importance.HIGH,
                  "Replacement string."),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.regex = java_regex(str(c["regex"]))
        self.replacement = str(c["replacement"])

    def apply(self, record: R) -> R | None:
        m = self.regex.fullmatch(record.topic)
        if m is None:
            return record
        return dataclasses.replace(record, topic=java_replacement(m, self.replacement))


class Filter(Transformation):
    """Drops all records, filtering them from subsequent transformations in the chain. This is
    intended to be used conditionally to filter out records matching (or not matching) a
    particular Predicate."""

    class_name = "org.apache.kafka.connect.transforms.Filter"

    def apply(self, record: R) -> R | None:
        return None


class TopicNameMatches(Predicate):
    """A predicate which is true for records with a topic name that matches the configured
    regular expression."""

    class_name = f"{PREDICATES_PACKAGE}.TopicNameMatches"
    CONFIG_DEF = ConfigDef([
        ConfigKey("pattern", Type.STRING, NO_DEFAULT, Importance.MEDIUM,
                  "A Java regular expression for matching against the name of a record's topic.",
                  regex),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        c = parse_config(self.CONFIG_DEF, configs)
        self.pattern = java_regex(str(c["pattern"]))

    def test(self, record: ConnectRecord) -> bool:
        return record.topic is not None and self.pattern.fullmatch(record.topic) is not None


def _non_empty(name: str, value: Any) -> None:
    if not str(value):
        raise ConfigException(name, value, "String must be non-empty")


class HasHeaderKey(Predicate):
    """A predicate which is true for records with at least one header with the configured name."""

    class_name = f"{PREDICATES_PACKAGE}.HasHeaderKey"
    CONFIG_DEF = ConfigDef([
        ConfigKey("name", Type.STRING, NO_DEFAULT, Importance.MEDIUM, "The header name.",
                  _non_empty),
    ])

    def configure(self, configs: Mapping[str, Any]) -> None:
        self.name = str(parse_config(self.CONFIG_DEF, configs)["name"])

    def test(self, record: ConnectRecord) -> bool:
        return any(h.key == self.name for h in record.headers)


class RecordIsTombstone(Predicate):
    """A predicate which is true for records which are tombstones (i.e. have null value)."""

    class_name = f"{PREDICATES_PACKAGE}.RecordIsTombstone"

    def test(self, record: ConnectRecord) -> bool:
        return record.value is None


TRANSFORMATIONS: list[type[Transformation]] = [RegexRouter, Filter]
PREDICATES: list[type[Predicate]] = [TopicNameMatches, HasHeaderKey, RecordIsTombstone]
