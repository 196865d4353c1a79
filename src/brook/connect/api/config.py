"""Typed configuration definitions with validation, after Kafka's ``ConfigDef``.

A connector declares its keys once; the same definition parses a task's properties, answers
``PUT /connector-plugins/{plugin}/config/validate`` (every key with its errors) and rejects a bad
``POST /connectors`` with the key and the reason. Validators are plain callables that raise
``ConfigException`` so a connector can express any rule, including ones across keys
(``ConfigDef.cross_checks``).

``Type`` and ``Importance`` are the enums of ``brook.config.defs``, shared with the broker's
definitions; connectors keep importing them from ``brook.connect.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from brook.config.defs import ConfigType
from brook.config.defs import Importance as Importance
from brook.connect.api.errors import ConfigException

Type = ConfigType
"""The same ``ConfigDef.Type`` the broker's definitions use (``brook.config.defs``)."""


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
Validator = Callable[[str, Any], None]


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: Type
    default: Any = NO_DEFAULT
    importance: Importance = Importance.MEDIUM
    documentation: str = ""
    validator: Validator | None = None
    group: str | None = None

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def definition(self, order: int) -> dict[str, Any]:
        """The ``definition`` object of Kafka Connect's validate response."""
        default = None if self.required else _render(self.default)
        return {
            "name": self.name, "type": self.type.value, "required": self.required,
            "default_value": default, "importance": self.importance.value,
            "documentation": self.documentation, "group": self.group, "width": "NONE",
            "display_name": self.name, "dependents": [], "order": order,
        }


@dataclass
class ConfigValue:
    """One key's outcome of validation: the parsed value and every reason it is wrong."""

    name: str
    value: Any
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": _render(self.value), "recommended_values": [],
                "errors": list(self.errors), "visible": True}


def _render(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_value(key: ConfigKey, raw: Any) -> Any:
    """Convert a raw (usually string) value to the key's type, raising ``ConfigException``."""
    if raw is None:
        return None
    t = key.type
    try:
        if t in (Type.STRING, Type.CLASS, Type.PASSWORD):
            return str(raw).strip() if t is Type.CLASS else str(raw)
        if t in (Type.INT, Type.LONG):
            if isinstance(raw, bool):
                raise ValueError
            return int(str(raw).strip())
        if t is Type.DOUBLE:
            return float(str(raw).strip())
        if t is Type.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s not in ("true", "false"):
                raise ValueError
            return s == "true"
        if t is Type.LIST:
            if isinstance(raw, list):
                return [str(v).strip() for v in raw]
            s = str(raw).strip()
            return [p.strip() for p in s.split(",") if p.strip()] if s else []
    except ValueError:
        pass
    raise ConfigException(key.name, raw, f"Expected value to be of type {t.value}")


class ConfigDef:
    """An ordered set of ``ConfigKey``s plus optional checks that span several keys."""

    def __init__(self, keys: Iterable[ConfigKey] = ()) -> None:
        self.keys: dict[str, ConfigKey] = {}
        self.cross_checks: list[Callable[[Mapping[str, Any]], Sequence[ConfigException]]] = []
        for k in keys:
            self.define(k)

    def define(self, key: ConfigKey) -> ConfigDef:
        self.keys[key.name] = key
        return self

    def merge(self, other: ConfigDef) -> ConfigDef:
        merged = ConfigDef([*self.keys.values(), *other.keys.values()])
        merged.cross_checks = [*self.cross_checks, *other.cross_checks]
        return merged

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """Every defined key with its parsed value and errors; never raises for bad input."""
        values: list[ConfigValue] = []
        parsed: dict[str, Any] = {}
        for name, key in self.keys.items():
            cv = ConfigValue(name, props.get(name))
            try:
                if name not in props or props[name] is None:
                    if key.required:
                        raise ConfigException(
                            name, None, "missing required configuration",
                            f'Missing required configuration "{name}" which has no default value.')
                    cv.value = key.default
                else:
                    cv.value = parse_value(key, props[name])
                if key.validator is not None and cv.value is not None:
                    key.validator(name, cv.value)
                parsed[name] = cv.value
            except ConfigException as exc:
                cv.errors.append(exc.message)
            values.append(cv)
        by_name = {v.name: v for v in values}
        if all(not v.errors for v in values):
            for check in self.cross_checks:
                for problem in check(parsed):
                    by_name.setdefault(problem.name, ConfigValue(problem.name, problem.value))
                    by_name[problem.name].errors.append(problem.message)
        return list(by_name.values())

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Parsed values of every key (unknown keys are kept as strings for ``originals``)."""
        values = self.validate(props)
        for v in values:
            if v.errors:
                raise ConfigException(v.name, props.get(v.name), v.errors[0], v.errors[0])
        out: dict[str, Any] = {k: v for k, v in props.items() if k not in self.keys}
        out.update({v.name: v.value for v in values})
        return out


# Validators -----------------------------------------------------------------------------------

def at_least(minimum: float) -> Validator:
    def check(name: str, value: Any) -> None:
        if value < minimum:
            raise ConfigException(name, value, f"Value must be at least {minimum:g}")
    return check


def one_of(*choices: str, case_sensitive: bool = False) -> Validator:
    def check(name: str, value: Any) -> None:
        v = value if case_sensitive else str(value).lower()
        allowed = choices if case_sensitive else tuple(c.lower() for c in choices)
        if v not in allowed:
            raise ConfigException(name, value, f"String must be one of: {', '.join(choices)}")
    return check


def non_empty_string(name: str, value: Any) -> None:
    if not str(value).strip():
        raise ConfigException(name, value, "String must be non-empty")
