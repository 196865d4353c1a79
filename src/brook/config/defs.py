"""One definition type for every configuration brook reads, after Kafka's ``ConfigDef``.

A key is declared once, with its type, Kafka's default, its validator, its importance, one line
of documentation and the broker keys that are its synonyms. Everything else is derived from
that declaration: parsing a ``server.properties`` value, validating a CreateTopics or
AlterConfigs value, the rows DescribeConfigs returns. Two tables that could disagree (a default
shown by DescribeConfigs and another applied by the code) cannot exist.

This package is a leaf: it imports only the standard library, so storage, the coordinator, the
broker, the CLI and Connect can all depend on it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "INT_MAX",
    "LONG_MAX",
    "ConfigDef",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Importance",
    "Synonym",
    "Validator",
    "at_least",
    "between",
    "format_value",
    "one_of",
    "parse_value",
    "subset_of",
]

ConfigValue = int | float | bool | str | tuple[str, ...]
LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class ConfigType(enum.Enum):
    """Kafka's ``ConfigDef.Type`` names, as DescribeConfigs v3+ reports them."""

    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"

    @property
    def wire_id(self) -> int:
        """DescribeConfigs v3+ ``ConfigType`` id."""
        return _TYPE_IDS[self]


_TYPE_IDS = {
    ConfigType.BOOLEAN: 1, ConfigType.STRING: 2, ConfigType.INT: 3, ConfigType.SHORT: 4,
    ConfigType.LONG: 5, ConfigType.DOUBLE: 6, ConfigType.LIST: 7, ConfigType.CLASS: 8,
    ConfigType.PASSWORD: 9,
}  # fmt: skip


class Importance(enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


@dataclass(frozen=True, slots=True)
class Synonym:
    """Another key that supplies this key's value when it is not set itself.

    ``multiplier`` converts units (``log.retention.hours`` -> ms).
    """

    name: str
    multiplier: int = 1


Validator = Callable[[ConfigValue], str | None]
"""Returns the reason a parsed value is invalid, or None."""


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One configuration key.

    ``consumers`` names the modules that read the key (for broker keys): a key is advertised
    only if something honours it, and a test checks each named module really reads it.
    ``default`` None means "no default" (the key is optional and unset unless given).
    """

    name: str
    type: ConfigType
    default: ConfigValue | None
    documentation: str
    validator: Validator | None = None
    valid_values: str = ""
    importance: Importance = Importance.MEDIUM
    synonyms: tuple[Synonym, ...] = ()
    sensitive: bool = False
    read_only: bool = True
    consumers: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        """``documentation`` under the name the topic-config table used."""
        return self.documentation

    @property
    def field_name(self) -> str:
        return self.name.replace(".", "_")

    @property
    def default_text(self) -> str | None:
        """The default as Kafka prints it, or None when the key has none."""
        return None if self.default is None else format_value(self.default)

    def parse(self, raw: str, shown: str | None = None) -> ConfigValue:
        """Parse and validate ``raw``; ``ValueError`` names ``shown`` (the key by default)."""
        name = shown or self.name
        try:
            value = parse_value(self.type, raw)
        except ValueError as exc:
            raise ValueError(f"{name}: {raw!r} is not a valid {self.type.value}: {exc}") from None
        reason = self.validator(value) if self.validator is not None else None
        if reason is not None:
            raise ValueError(f"{name}: {raw!r} {reason}")
        return value


class ConfigDef(Mapping[str, ConfigKey]):
    """An ordered, read-only set of ``ConfigKey``s, looked up by name."""

    def __init__(self, keys: Iterable[ConfigKey]) -> None:
        self._keys: dict[str, ConfigKey] = {}
        for key in keys:
            if key.name in self._keys:
                raise ValueError(f"configuration {key.name} defined twice")
            self._keys[key.name] = key

    def __getitem__(self, name: str) -> ConfigKey:
        return self._keys[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def defaults(self) -> dict[str, str]:
        """Every key that has a default, as Kafka prints it."""
        return {k.name: text for k in self._keys.values() if (text := k.default_text) is not None}

    def value(self, props: Mapping[str, str], name: str) -> ConfigValue:
        """``name`` parsed from ``props`` (a blank value counts as unset), else its default.

        ``ValueError`` if the value does not parse or validate, or if it is unset and the key
        has no default.
        """
        key = self._keys[name]
        raw = props.get(name)
        if raw is not None and raw.strip() != "":
            return key.parse(raw)
        if key.default is None:
            raise ValueError(f"{name} is required")
        return key.default

    def get_int(self, props: Mapping[str, str], name: str) -> int:
        value = self.value(props, name)
        assert isinstance(value, int)
        return value

    def get_bool(self, props: Mapping[str, str], name: str) -> bool:
        value = self.value(props, name)
        assert isinstance(value, bool)
        return value

    def get_str(self, props: Mapping[str, str], name: str) -> str:
        value = self.value(props, name)
        assert isinstance(value, str)
        return value


def parse_value(config_type: ConfigType, raw: str) -> ConfigValue:
    """Parse a configuration string as Kafka's ``ConfigDef.parseType`` does."""
    text = raw.strip()
    if config_type is ConfigType.BOOLEAN:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    if config_type in (ConfigType.INT, ConfigType.LONG, ConfigType.SHORT):
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
        limit = {ConfigType.INT: INT_MAX, ConfigType.LONG: LONG_MAX}.get(config_type, 2**15 - 1)
        if not -limit - 1 <= value <= limit:
            raise ValueError(f"out of range for {config_type.value}")
        return value
    if config_type is ConfigType.DOUBLE:
        return float(text)
    if config_type is ConfigType.LIST:
        return tuple(item.strip() for item in text.split(",")) if text else ()
    return text


def format_value(value: ConfigValue) -> str:
    """A parsed value as Kafka prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def at_least(minimum: int) -> Validator:
    def check(value: ConfigValue) -> str | None:
        return (
            None
            if isinstance(value, int | float) and value >= minimum
            else f"must be at least {minimum}"
        )

    return check


def between(low: float, high: float, *, also: int | None = None) -> Validator:
    def check(value: ConfigValue) -> str | None:
        if isinstance(value, int | float) and (low <= value <= high or value == also):
            return None
        extra = f" or {also}" if also is not None else ""
        return f"must be between {low} and {high}{extra}"

    return check


def one_of(*allowed: str) -> Validator:
    def check(value: ConfigValue) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def subset_of(*allowed: str) -> Validator:
    def check(value: ConfigValue) -> str | None:
        items = value if isinstance(value, tuple) else ()
        if not items or any(item not in allowed for item in items):
            return f"must be a non-empty list of {', '.join(allowed)}"
        return None

    return check
