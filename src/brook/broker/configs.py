"""Configuration rows for DescribeConfigs and CreateTopics, topic and broker alike.

Both come from the definitions in ``brook.config``: topic rows from ``storage.log_config.describe``
(every topic key, its default and its broker-level synonyms, from ``brook.config.log``), broker
rows from ``brook.config.broker`` over the broker's own properties, plus the replication
throttle rates where they are set at run time (per broker or as the cluster default; they
are enforced by ``brook.replication.replication_quota``). A key that is not defined there is
not listed: every listed key is one brook honours. This module only adapts them to what
handlers render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from brook.config.broker import BROKER_CONFIGS
from brook.config.defs import ConfigType
from brook.replication.replication_quota import FOLLOWER_RATE, LEADER_RATE
from brook.storage.log_config import ConfigEntry, ConfigSource, ConfigSynonymEntry, describe

if TYPE_CHECKING:
    from brook.broker.services import BrokerServices

# DescribeConfigs v3+ ConfigType ids.
CONFIG_TYPE_IDS = {t.value: t.wire_id for t in ConfigType}


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


def describe_broker_configs(node: BrokerServices, entity_default: bool = False) -> list[Row]:
    """Every defined broker key that is set or has a default, sorted by name.

    Broker keys are static (``server.properties``): every row is read-only, and its source is
    ``STATIC_BROKER_CONFIG`` when the file (or a flag) sets it, ``DEFAULT_CONFIG`` otherwise.
    The replication throttle rates set dynamically follow, as Kafka lists them: writable,
    from this broker's entry (``DYNAMIC_BROKER_CONFIG``) or the cluster default
    (``DYNAMIC_DEFAULT_BROKER_CONFIG``); the cluster default entity (the broker named "")
    shows the defaults alone.
    """
    configs = node.image.configs
    own = {} if entity_default else configs.broker_config(str(node.config.node_id))
    rows = broker_rows(node.config.props) + throttle_rate_rows(own, configs.broker_config(""))
    return sorted(rows, key=lambda r: r.name)


_RATE_DOCS = {
    LEADER_RATE: "Bytes per second this broker sends to followers of the partitions its "
                 "topics' leader.replication.throttled.replicas name on it, while they are "
                 "out of the ISR.",
    FOLLOWER_RATE: "Bytes per second this broker copies, while out of the ISR, of the "
                   "partitions its topics' follower.replication.throttled.replicas name on it.",
}


def throttle_rate_rows(own: Mapping[str, str], default: Mapping[str, str]) -> list[Row]:
    rows = []
    for name, doc in _RATE_DOCS.items():
        chain = tuple(
            ConfigSynonymEntry(name, layer[name], source)
            for layer, source in ((own, ConfigSource.DYNAMIC_BROKER_CONFIG),
                                  (default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG))
            if name in layer)
        if chain:
            rows.append(Row(name, chain[0].value, int(chain[0].source), False, False, chain,
                            ConfigType.LONG.wire_id, doc))
    return rows


def broker_rows(props: Mapping[str, str]) -> list[Row]:
    rows = []
    for key in BROKER_CONFIGS.values():
        static = key.name in props
        value = props[key.name] if static else key.default_text
        if value is None:
            continue
        sensitive = key.sensitive or key.type is ConfigType.PASSWORD
        source = ConfigSource.STATIC_BROKER_CONFIG if static else ConfigSource.DEFAULT_CONFIG
        synonyms = (ConfigSynonymEntry(key.name, value, source),)
        rows.append(Row(key.name, None if sensitive else value, int(source), key.read_only,
                        sensitive, synonyms, key.type.wire_id, key.documentation))
    return rows
