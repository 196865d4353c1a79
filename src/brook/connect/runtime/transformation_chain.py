"""``transforms``/``predicates`` of a connector config: their validation and the chain a task runs.

Kafka's ``ConnectorConfig.enrich`` adds each alias's keys to the connector's ``ConfigDef``
under ``transforms.<alias>.`` (``predicates.<alias>.``), so ``validate`` reports a bad key of a
transformation exactly like a bad key of the connector; ``alias_config`` does the same here.
A task builds its ``TransformationChain`` when it starts: each transformation configured with
its own keys, wrapped with its predicate (``transforms.<alias>.predicate``, ``.negate``).

Records pass the chain in order; a ``None`` ends it (the record is dropped). A failing
transformation or predicate is handled like a failing converter: ``errors.tolerance=all`` skips
the record (a sink sends it to the dead letter queue), ``none`` fails the task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import Message

from brook.connect.api import (
    NO_DEFAULT,
    ConfigException,
    ConfigKey,
    ConfigValue,
    ConnectException,
    ConnectRecord,
    Importance,
    Type,
)
from brook.connect.runtime import plugins
from brook.connect.runtime.errors import ErrorHandler, Stage
from brook.connect.transforms import BUILTIN_TRANSFORMATIONS, Predicate, Transformation
from brook.connect.transforms.base import non_empty_values

R = TypeVar("R", bound=ConnectRecord)
T = TypeVar("T")
PREDICATE, NEGATE = "predicate", "negate"


def aliases(values: Mapping[str, Any], kind: str) -> list[str]:
    raw = values.get(kind)
    items = raw if isinstance(raw, list) else str(raw or "").split(",")
    return [str(a).strip() for a in items if str(a).strip()]


def _prefixed(key: ConfigKey, prefix: str, group: str) -> ConfigKey:
    return ConfigKey(prefix + key.name, key.type, key.default, key.importance,
                     key.documentation, key.check, group)


def _abstract_hint(cls_name: str) -> str | None:
    variants = [f"{cls_name}${v}" for v in ("Key", "Value") if f"{cls_name}${v}" in
                BUILTIN_TRANSFORMATIONS]
    if variants:
        return f"This class is abstract and cannot be created. Did you mean {', '.join(variants)}?"
    return None


def alias_config(values: Mapping[str, Any]) -> tuple[list[ConfigValue], dict[str, ConfigKey]]:
    """Every ``transforms.<alias>.*`` and ``predicates.<alias>.*`` key with its errors, and the
    definitions of those keys (Kafka's enriched ``ConfigDef``). ``values`` are the raw props."""
    out: list[ConfigValue] = []
    keys: dict[str, ConfigKey] = {}
    predicate_aliases = aliases(values, "predicates")
    for kind, label, lookup in (("transforms", "Transformation", plugins.resolve_transformation),
                                ("predicates", "Predicate", plugins.resolve_predicate)):
        names = aliases(values, kind)
        if len(names) != len(set(names)):
            out.append(ConfigValue(kind, values.get(kind), [
                f"Invalid value [{', '.join(names)}] for configuration {kind}: Duplicate alias "
                "provided."]))
        for alias in dict.fromkeys(names):
            prefix, group = f"{kind}.{alias}.", f"{label}s: {alias}"
            type_key = prefix + "type"
            keys[type_key] = ConfigKey(type_key, Type.CLASS, NO_DEFAULT, Importance.HIGH,
                                       f"Class for the '{alias}' {label.lower()}.", None, group)
            cls_name = str(values.get(type_key) or "").strip()
            type_value = ConfigValue(type_key, cls_name or None)
            out.append(type_value)
            if not cls_name:
                type_value.errors.append(f'Missing required configuration "{type_key}" which has '
                                         "no default value.")
                continue
            cls: Any = lookup(cls_name)
            if cls is None:
                hint = _abstract_hint(cls_name) if kind == "transforms" else None
                type_value.errors.append(hint or f"Invalid value {cls_name} for configuration "
                                                 f"{type_key}: Class {cls_name} could not be found.")
                continue
            sub = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}
            config_def = cls().config()
            if kind == "transforms":
                out += _predicate_values(prefix, sub, predicate_aliases, type_value, keys, group)
            for key in config_def.values():
                if kind == "transforms" and key.name in (PREDICATE, NEGATE):
                    continue
                keys[prefix + key.name] = _prefixed(key, prefix, group)
            for v in config_def.validate(sub):
                if kind == "transforms" and v.name in (PREDICATE, NEGATE):
                    continue
                # Kafka names the prefixed key when a required one is missing, and the key as
                # the transformation knows it in its validators' messages.
                errors = [e.replace(f'"{v.name}"', f'"{prefix}{v.name}"') for e in v.errors]
                key = config_def.get(v.name)
                if v.name not in sub and key is not None and key.check is non_empty_values:
                    # Kafka also runs the validator on the missing value, which says so.
                    errors.append(f"Configuration '{v.name}' values must not be null.")
                out.append(ConfigValue(prefix + v.name, v.value, errors))
    return out, keys


def _predicate_values(prefix: str, sub: Mapping[str, Any], predicate_aliases: list[str],
                      type_value: ConfigValue, keys: dict[str, ConfigKey],
                      group: str) -> list[ConfigValue]:
    keys[prefix + PREDICATE] = ConfigKey(prefix + PREDICATE, Type.STRING, "", Importance.MEDIUM,
                                         "The alias of a predicate used to determine whether to "
                                         "apply this transformation.", None, group)
    keys[prefix + NEGATE] = ConfigKey(prefix + NEGATE, Type.BOOLEAN, False, Importance.MEDIUM,
                                      "Whether the configured predicate should be negated.",
                                      None, group)
    predicate = str(sub.get(PREDICATE) or "").strip()
    pv = ConfigValue(prefix + PREDICATE, predicate)
    nv = ConfigValue(prefix + NEGATE, sub.get(NEGATE, False))
    if NEGATE in sub and PREDICATE not in sub:
        type_value.errors.append(f"Config '{prefix}{NEGATE}' was provided but there is no config "
                                 f"'{prefix}{PREDICATE}' defining a predicate to be negated.")
    if predicate and predicate not in predicate_aliases:
        pv.errors.append(f"Invalid value {predicate} for configuration {prefix}{PREDICATE}: "
                         f"the predicate alias {predicate} is not one of predicates")
    if NEGATE in sub and str(sub[NEGATE]).strip().lower() not in ("true", "false"):
        nv.errors.append(f"Invalid value {sub[NEGATE]} for configuration {prefix}{NEGATE}: "
                         "Expected value to be either true or false")
    return [pv, nv]


def alias_problems(values: Mapping[str, Any]) -> list[ConfigException]:
    """The errors of ``alias_config`` as exceptions (for callers that only refuse)."""
    return [ConfigException(v.name, v.value, _reason(e), e) for v in alias_config(values)[0]
            for e in v.errors]


def _reason(message: str) -> str:
    """``Invalid value X for configuration K: reason`` -> ``reason``."""
    if message.startswith("Invalid value ") and " for configuration " in message:
        return message.split(" for configuration ", 1)[1].split(": ", 1)[-1]
    return message


@dataclass
class _Stage:
    alias: str
    transformation: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, record: R) -> R | None:
        if self.predicate is not None and self.predicate.test(record) == self.negate:
            return record
        return self.transformation.apply(record)


def _attempts(first: Exception, again: Callable[[], T]) -> Callable[[], T]:
    """An operation whose first call raises ``first`` and whose later calls run ``again``."""
    pending: list[Exception] = [first]

    def attempt() -> T:
        if pending:
            raise pending.pop()
        return again()

    return attempt


class TransformationChain:
    """The configured transformations of a connector, applied to each record in order."""

    def __init__(self, stages: list[_Stage]) -> None:
        self.stages = stages

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TransformationChain:
        """Instantiate and configure the chain; a bad config raises ``ConnectException``."""
        problems = alias_problems(config)
        if problems:
            raise ConnectException(problems[0].message)
        stages: list[_Stage] = []
        try:
            predicates: dict[str, Predicate] = {}
            for alias in aliases(config, "predicates"):
                prefix = f"predicates.{alias}."
                p_cls = plugins.resolve_predicate(str(config[prefix + "type"]))
                assert p_cls is not None
                predicate = p_cls()
                predicate.configure({k[len(prefix):]: v for k, v in config.items()
                                     if k.startswith(prefix) and k != prefix + "type"})
                predicates[alias] = predicate
            for alias in aliases(config, "transforms"):
                prefix = f"transforms.{alias}."
                t_cls = plugins.resolve_transformation(str(config[prefix + "type"]))
                assert t_cls is not None
                sub = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)
                       and k != prefix + "type"}
                predicate_alias = str(sub.pop(PREDICATE, "") or "").strip()
                negate = str(sub.pop(NEGATE, "false")).strip().lower() == "true"
                transformation = t_cls()
                transformation.configure(sub)
                stages.append(_Stage(alias, transformation,
                                     predicates.get(predicate_alias) if predicate_alias else None,
                                     negate))
        except ConfigException as exc:
            raise ConnectException(f"Invalid transformation or predicate config: {exc}") from exc
        return cls(stages)

    def __bool__(self) -> bool:
        return bool(self.stages)

    def apply(self, record: R, handler: ErrorHandler, raw: Message | None = None) -> R | None:
        """The record after every stage; ``None`` when a stage dropped it or its failure was
        tolerated (``errors.tolerance=all``)."""
        current: R | None = record
        for stage in self.stages:
            if current is None:
                return None
            try:  # the common case, without the error handler's bookkeeping
                result = stage.apply(current)
            except Exception as exc:
                # The handler sees this failure as its first attempt: it retries a
                # RetriableException within errors.retry.timeout, then tolerates or fails.
                result = handler.execute(_attempts(exc, partial(stage.apply, current)),
                                         Stage.TRANSFORMATION, stage.transformation.class_name
                                         or type(stage.transformation).__qualname__, raw)
            if result is ErrorHandler.SKIP:
                return None
            current = result
        return current

    def close(self) -> None:
        for stage in self.stages:
            for closeable in (stage.transformation, stage.predicate):
                if closeable is not None:
                    try:
                        closeable.close()
                    except Exception:  # closing one must not keep the others open
                        pass
