"""Configuration rows for DescribeConfigs and CreateTopics, topic and broker alike.

Topic rows come from ``storage.log_config.describe`` (which knows every topic key, its default
and its broker-level synonyms); broker rows come from the broker's own properties over Kafka's
defaults. This module only adapts them to what handlers render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from brook.broker.config import BROKER_DEFAULTS
from brook.storage.log_config import ConfigEntry, ConfigSource, ConfigSynonymEntry, describe

if TYPE_CHECKING:
    from brook.broker.services import BrokerServices

# DescribeConfigs v3+ ConfigType ids.
CONFIG_TYPE_IDS = {
    "BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6, "LIST": 7,
    "CLASS": 8, "PASSWORD": 9,
}
_SENSITIVE_MARKERS = ("password", "secret", "sasl.jaas.config")


class Row(NamedTuple):
    name: str
    value: str | None
    source: int
    read_only: bool
    sensitive: bool
    synonyms: tuple[ConfigSynonymEntry, ...]
    type_id: int
    documentation: str | None


def describe_topic_configs(node: BrokerServices, overrides: Mapping[str, str]) -> list[Row]:
    entries: list[ConfigEntry] = describe(overrides, node.config.props)
    return [
        Row(e.name, None if e.sensitive else e.value, int(e.source), e.read_only, e.sensitive,
            e.synonyms, CONFIG_TYPE_IDS.get(e.type, 0), e.documentation)
        for e in entries
    ]


def describe_broker_configs(node: BrokerServices) -> list[Row]:
    props = node.config.props
    rows = []
    for name in sorted(set(BROKER_DEFAULTS) | set(props)):
        sensitive = any(m in name for m in _SENSITIVE_MARKERS)
        static = name in props
        value = props[name] if static else BROKER_DEFAULTS[name]
        source = ConfigSource.STATIC_BROKER_CONFIG if static else ConfigSource.DEFAULT_CONFIG
        synonyms = (ConfigSynonymEntry(name, value, source),)
        rows.append(Row(name, None if sensitive else value, int(source), True, sensitive,
                        synonyms, CONFIG_TYPE_IDS["STRING"], None))
    return rows
