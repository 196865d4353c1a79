"""Keys the framework handles for every connector (``name``, ``tasks.max``, ``errors.*`` ...).

They are validated together with the connector's own ``ConfigDef`` so that a bad
``errors.tolerance`` is refused at ``POST /connectors`` exactly like a bad plugin key.

Every class-valued key resolves only among the classes the worker knows (converters,
transformations and predicates by their Kafka names, plus installed entry points; anything
else is refused with Kafka's "could not be found" message); no value is ever imported as a
module path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from brook.connect.api import (
    ConfigDef,
    ConfigException,
    ConfigKey,
    Importance,
    Type,
    at_least,
    non_empty_string,
    one_of,
)
from brook.connect.runtime import java_client_props
from brook.connect.runtime.converters import CONVERTERS


def _converter(name: str, value: Any) -> None:
    if str(value).strip() not in CONVERTERS:
        raise ConfigException(name, value, f"Class {value} could not be found.")


HEADER_CONVERTERS = ("org.apache.kafka.connect.storage.SimpleHeaderConverter",
                     "SimpleHeaderConverter")


def _header_converter(name: str, value: Any) -> None:
    if str(value).strip() not in HEADER_CONVERTERS + tuple(CONVERTERS):
        raise ConfigException(name, value, f"Class {value} could not be found.")


def alias_class_problems(values: Mapping[str, Any]) -> list[ConfigException]:
    """``transforms``/``predicates``: each alias must name a known class with a valid config.

    ``values`` are the raw props: the per-alias keys are not part of any ``ConfigDef``.
    """
    from brook.connect.runtime.transformation_chain import alias_problems
    return alias_problems(values)


MAX_TASKS = 1024
"""Upper bound of ``tasks.max``. Each task is a thread with its own Kafka client, and its config
a record in the config topic; an unbounded value (Kafka's) lets one request claim a million of
them."""


def _tasks_max(name: str, value: Any) -> None:
    if not 1 <= int(value) <= MAX_TASKS:
        raise ConfigException(name, value, f"Value must be between 1 and {MAX_TASKS}")


CLIENT_OVERRIDE_PREFIXES = ("consumer.override.", "producer.override.", "admin.override.")


def _override_translations(values: Mapping[str, Any]) -> dict[str, java_client_props.Translation]:
    out: dict[str, java_client_props.Translation] = {}
    for prefix in CLIENT_OVERRIDE_PREFIXES:
        props = {k[len(prefix):]: str(v) for k, v in values.items()
                 if k.startswith(prefix) and v is not None}
        out[prefix] = java_client_props.translate(props, prefix=prefix, connector=True)
    return out


def client_override_problems(values: Mapping[str, Any]) -> list[ConfigException]:
    """``*.override.<key>`` settings a connector may not pass to its Kafka clients.

    Kafka Connect lets a connector config override its clients' settings (policy ``All``).
    The clients here are librdkafka: Java settings are translated, and refused by key with the
    reason when they have no equivalent (``java_client_props``). Settings that would make the
    worker load a shared library (``plugin.library.paths``, ``ssl.engine.location``), run a
    command (``sasl.kerberos.kinit.cmd``), fetch tokens from a URL or read the worker's own
    files (any ``*.location``, Java's key and trust stores included) are refused: a config from
    the REST API must not reach any of them; the worker's own ``consumer.``/``producer.``
    settings still can.
    """
    return [p for t in _override_translations(values).values() for p in t.problems]


def client_overrides(config: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The librdkafka settings of a connector config's ``<prefix>`` keys, for a task's client;
    refuses the forbidden ones again in case the config did not come through the REST API."""
    translation = _override_translations(config)[prefix]
    if translation.problems:
        raise translation.problems[0]
    return translation.conf


def _regex(name: str, value: Any) -> None:
    try:
        re.compile(str(value))
    except re.error as exc:
        raise ConfigException(name, value, f"Must be a valid regular expression: {exc}") from exc


COMMON = ConfigDef([
    ConfigKey("name", Type.STRING, importance=Importance.HIGH, validator=non_empty_string,
              documentation="Globally unique name of the connector."),
    ConfigKey("connector.class", Type.STRING, importance=Importance.HIGH,
              documentation="Class name or alias of the connector plugin."),
    ConfigKey("tasks.max", Type.INT, 1, Importance.HIGH, "Maximum number of tasks.", _tasks_max),
    ConfigKey("key.converter", Type.CLASS, None, Importance.LOW, "", _converter),
    ConfigKey("value.converter", Type.CLASS, None, Importance.LOW, "", _converter),
    ConfigKey("header.converter", Type.CLASS, None, Importance.LOW, "", _header_converter),
    ConfigKey("transforms", Type.LIST, [], Importance.LOW, "Aliases of transformations."),
    ConfigKey("predicates", Type.LIST, [], Importance.LOW, "Aliases of predicates."),
    ConfigKey("errors.retry.timeout", Type.LONG, 0, Importance.MEDIUM,
              "How long (ms) to retry a failed operation; -1 retries forever.", at_least(-1)),
    ConfigKey("errors.retry.delay.max.ms", Type.LONG, 60000, Importance.MEDIUM, "", at_least(1)),
    ConfigKey("errors.tolerance", Type.STRING, "none", Importance.MEDIUM,
              "none: the first error fails the task; all: skip records that fail.",
              one_of("none", "all")),
    ConfigKey("errors.log.enable", Type.BOOLEAN, False, Importance.LOW, ""),
    ConfigKey("errors.log.include.messages", Type.BOOLEAN, False, Importance.LOW, ""),
])

SINK = COMMON.merge(ConfigDef([
    ConfigKey("topics", Type.LIST, [], Importance.HIGH, "Topics to consume."),
    ConfigKey("topics.regex", Type.STRING, "", Importance.HIGH, "Regex of topics to consume.",
              _regex),
    ConfigKey("errors.deadletterqueue.topic.name", Type.STRING, "", Importance.MEDIUM, ""),
    ConfigKey("errors.deadletterqueue.topic.replication.factor", Type.INT, -1, Importance.LOW, ""),
    ConfigKey("errors.deadletterqueue.context.headers.enable", Type.BOOLEAN, False,
              Importance.LOW, "Add __connect.errors.* headers to records sent to the DLQ."),
]))


def _sink_topics_check(values: Mapping[str, Any]) -> list[ConfigException]:
    topics, regex = values.get("topics") or [], values.get("topics.regex") or ""
    if topics and regex:
        return [ConfigException("topics", ",".join(topics),
                                "topics and topics.regex are mutually exclusive")]
    if not topics and not regex:
        return [ConfigException("topics", "", "Must configure one of topics or topics.regex")]
    dlq = values.get("errors.deadletterqueue.topic.name") or ""
    if dlq and dlq in topics:
        return [ConfigException("errors.deadletterqueue.topic.name", dlq,
                                "The DLQ topic cannot be one of the topics the connector reads")]
    return []


SINK.cross_checks.append(_sink_topics_check)
SOURCE = COMMON
