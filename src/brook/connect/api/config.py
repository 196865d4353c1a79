"""Connect's face of brook's one ``ConfigDef`` type (``brook.config.defs``).

A connector declares its keys once; the same definition parses a task's properties, answers
``PUT /connector-plugins/{plugin}/config/validate`` (every key with its errors) and rejects a bad
``POST /connectors`` with the key and the reason. ``ConfigDef`` and ``ConfigKey`` here are
subclasses of the broker's, so there is one definition type in brook; what Connect adds is the
connector-facing manner of Kafka Connect's API: keys built positionally as
``(name, type, default, importance, documentation, validator, group)``, validators that raise
``ConfigException`` (so a connector can express any rule, including ones across keys through
``ConfigDef.cross_checks``), and ``validate()`` that collects every error instead of stopping at
the first. A plain ``brook.config.defs.ConfigKey`` (the worker's keys in
``brook.config.connect_worker``) may be defined too: its validator's reason becomes a
``ConfigException``.

``Type`` and ``Importance`` are the enums of ``brook.config.defs``; connectors keep importing
everything from ``brook.connect.api``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from brook.config import defs
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
"""Connect's validator: raises ``ConfigException`` for a bad (parsed) value."""


@dataclass(frozen=True, init=False)
class ConfigKey(defs.ConfigKey):
    """A ``brook.config.defs.ConfigKey`` built as Kafka Connect's ``ConfigDef.define`` is.

    ``check`` is the connector's raising validator; the inherited ``validator`` adapts it to
    the reason-returning form, so the broker-side ``parse`` works on these keys too. A
    ``default`` of ``NO_DEFAULT`` makes the key required.
    """

    group: str | None = None
    check: Validator | None = None

    def __init__(self, name: str, type: Type, default: Any = NO_DEFAULT,
                 importance: Importance = Importance.MEDIUM, documentation: str = "",
                 validator: Validator | None = None, group: str | None = None) -> None:
        super().__init__(name=name, type=type, default=default, documentation=documentation,
                         validator=None if validator is None else _reason_of(name, validator),
                         importance=importance)
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "check", validator)

    @classmethod
    def of(cls, key: defs.ConfigKey) -> ConfigKey:
        """``key`` as Connect uses it: list defaults as lists, its validator raising."""
        if isinstance(key, ConfigKey):
            return key
        default: Any = list(key.default) if isinstance(key.default, tuple) else key.default
        return cls(key.name, key.type, default, key.importance, key.documentation,
                   None if key.validator is None else _raising(key.validator))

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    @property
    def default_text(self) -> str | None:
        return None if self.required else _render(self.default)

    def definition(self, order: int) -> dict[str, Any]:
        """The ``definition`` object of Kafka Connect's validate response."""
        return {
            "name": self.name, "type": self.type.value, "required": self.required,
            "default_value": self.default_text, "importance": self.importance.value,
            "documentation": self.documentation, "group": self.group, "width": "NONE",
            "display_name": self.name, "dependents": [], "order": order,
        }


def _reason_of(name: str, check: Validator) -> defs.Validator:
    def reason(value: defs.ConfigValue) -> str | None:
        try:
            check(name, value)
        except ConfigException as exc:
            return exc.reason
        return None

    return reason


def _raising(validator: defs.Validator) -> Validator:
    def check(name: str, value: Any) -> None:
        shown = tuple(value) if isinstance(value, list) else value
        reason = validator(shown)
        if reason is not None:
            raise ConfigException(name, _render(value), reason)

    return check


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
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_value(key: defs.ConfigKey, raw: Any) -> Any:
    """Convert a raw (usually string) value to the key's type, raising ``ConfigException``.

    Unlike the broker's ``parse_value`` this takes JSON values as well as strings (a REST
    request may send ``true`` or a list) and gives lists as lists.
    """
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


class ConfigDef(defs.ConfigDef):
    """An ordered set of ``ConfigKey``s plus optional checks that span several keys.

    A ``Mapping`` from name to key, like every ``brook.config.defs.ConfigDef``; unlike the
    broker's, it grows through ``define`` (a later definition of a name replaces the earlier).
    """

    def __init__(self, keys: Iterable[defs.ConfigKey] = ()) -> None:
        super().__init__(())
        self.cross_checks: list[Callable[[Mapping[str, Any]], Sequence[ConfigException]]] = []
        for k in keys:
            self.define(k)

    def __getitem__(self, name: str) -> ConfigKey:
        key = self._keys[name]
        assert isinstance(key, ConfigKey)
        return key

    def value(self, props: Mapping[str, str], name: str) -> defs.ConfigValue:
        """As the broker's ``value``, with Connect's required keys (no default) required."""
        raw = props.get(name)
        if self[name].required and (raw is None or raw.strip() == ""):
            raise ValueError(f"{name} is required")
        return super().value(props, name)

    def define(self, key: defs.ConfigKey) -> ConfigDef:
        self._keys[key.name] = ConfigKey.of(key)
        return self

    def merge(self, other: ConfigDef) -> ConfigDef:
        merged = ConfigDef([*self.values(), *other.values()])
        merged.cross_checks = [*self.cross_checks, *other.cross_checks]
        return merged

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """Every defined key with its parsed value and errors; never raises for bad input."""
        values: list[ConfigValue] = []
        parsed: dict[str, Any] = {}
        for name in self:
            key = self[name]
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
                if key.check is not None and cv.value is not None:
                    key.check(name, cv.value)
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
        out: dict[str, Any] = {k: v for k, v in props.items() if k not in self}
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
