"""Every advertised configuration is honoured, and each subsystem reads the one definition.

A broker key is listed by DescribeConfigs only if something reads it: each definition names
its consumers, and this checks the consumer really does (topic-config synonyms by changing the
resolved ``LogConfig``; the other keys by the consumer's source naming the key).
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from brook.broker.config import BROKER_DEFAULTS, BrokerConfig, ConfigError
from brook.config.broker import BROKER_CONFIGS, LOG_CONFIG_CONSUMER
from brook.config.defs import ConfigDef, ConfigKey, ConfigType, format_value
from brook.config.group import GROUP_CONFIGS
from brook.config.log import TOPIC_CONFIGS, TOPIC_SYNONYMS
from brook.coordinator.group.config import GroupCoordinatorConfig
from brook.storage.errors import InvalidConfigError
from brook.storage.log_config import LogConfig

_CANDIDATES = ["2", "3", "5000", "0.7", "true", "false", "compact", "LogAppendTime", "gzip",
               "2.8-IV1", "1", "0"]


def _honoured_as_topic_default(name: str) -> bool:
    """Setting ``name`` on the broker changes some topic's effective configuration."""
    base = LogConfig.default()
    for raw in _CANDIDATES:
        try:
            changed = LogConfig.from_props({}, {name: raw})
        except (ValueError, InvalidConfigError):
            continue
        if changed != base:
            return True
    return False


@pytest.mark.parametrize("name", sorted(BROKER_CONFIGS))
def test_every_broker_key_has_a_consumer_that_reads_it(name: str) -> None:
    key = BROKER_CONFIGS[name]
    assert key.consumers, f"{name} names no consumer"
    assert key.documentation, f"{name} has no documentation"
    for consumer in key.consumers:
        if consumer == LOG_CONFIG_CONSUMER:
            assert name in TOPIC_SYNONYMS
            assert _honoured_as_topic_default(name), f"{name} changes no topic configuration"
        else:
            source = inspect.getsource(importlib.import_module(consumer))
            assert f'"{name}"' in source, f"{consumer} never reads {name}"


@pytest.mark.parametrize("name", ["queued.max.requests", "fetch.max.bytes",
                                  "transaction.state.log.num.partitions",
                                  "transactional.id.expiration.ms"])
def test_keys_nobody_reads_are_not_advertised(name: str) -> None:
    assert name not in BROKER_CONFIGS
    assert name not in BROKER_DEFAULTS


def test_connections_max_idle_ms_is_advertised_and_enforced() -> None:
    assert BROKER_DEFAULTS["connections.max.idle.ms"] == "600000"
    config = BrokerConfig.from_props({"node.id": "1", "connections.max.idle.ms": "1234"})
    assert config.connections_max_idle_ms == 1234


def test_group_defaults_are_the_definitions() -> None:
    """DescribeConfigs once said 1 for offsets.topic.replication.factor while the coordinator
    used 3; both now come from ``brook.config.group``."""
    assert BROKER_DEFAULTS["offsets.topic.replication.factor"] == "3"
    assert GroupCoordinatorConfig() == GroupCoordinatorConfig.from_props({})
    config = GroupCoordinatorConfig()
    assert config.offsets_topic_replication_factor == 3
    assert config.offsets_topic_num_partitions == GROUP_CONFIGS["offsets.topic.num.partitions"].default
    for name in GROUP_CONFIGS:
        assert BROKER_CONFIGS[name] is GROUP_CONFIGS[name]


def test_topic_keys_and_their_broker_synonyms_agree_on_type() -> None:
    for key in TOPIC_CONFIGS.values():
        assert not key.read_only and key.default is not None
        for synonym in key.synonyms:
            broker_key = BROKER_CONFIGS[synonym.name]
            if synonym.multiplier == 1:
                assert broker_key.type is key.type, synonym.name


def test_broker_config_validates_from_the_definitions() -> None:
    with pytest.raises(ConfigError, match=r"connections\.max\.idle\.ms.*at least 1"):
        BrokerConfig.from_props({"node.id": "1", "connections.max.idle.ms": "0"})
    with pytest.raises(ConfigError, match=r"socket\.request\.max\.bytes.*integer"):
        BrokerConfig.from_props({"node.id": "1", "socket.request.max.bytes": "lots"})
    # Out of Kafka's INT range: refused, as Kafka refuses it, instead of taken as given.
    with pytest.raises(ConfigError, match="out of range"):
        BrokerConfig.from_props({"node.id": "1", "socket.request.max.bytes": str(2**31)})


def test_blank_value_means_the_default() -> None:
    assert BROKER_CONFIGS.value({"num.partitions": "  "}, "num.partitions") == 1


def test_config_def_refuses_a_key_defined_twice() -> None:
    key = ConfigKey("a", ConfigType.INT, 1, "doc")
    with pytest.raises(ValueError, match="twice"):
        ConfigDef([key, key])


def test_defaults_print_as_kafka_prints_them() -> None:
    assert format_value(("compact", "delete")) == "compact,delete"
    assert format_value(True) == "true"
    assert BROKER_DEFAULTS["log.cleanup.policy"] == "delete"


def test_sample_server_properties_uses_only_defined_keys() -> None:
    from pathlib import Path

    from brook.config.properties import load_properties

    path = Path(__file__).resolve().parents[3] / "config" / "server.properties"
    props = load_properties(str(path))
    assert set(props) <= set(BROKER_CONFIGS), set(props) - set(BROKER_CONFIGS)
    BrokerConfig.from_props(props)
