from __future__ import annotations

import pytest

from brook.records.compression import CompressionType
from brook.storage.errors import InvalidConfigError
from brook.storage.log_config import (
    TOPIC_CONFIGS,
    ConfigSource,
    LogConfig,
    describe,
    validate_topic_configs,
)


def test_kafka_defaults() -> None:
    config = LogConfig.default()
    assert config.segment_bytes == 1_073_741_824
    assert config.segment_ms == 604_800_000
    assert config.retention_ms == 604_800_000
    assert config.retention_bytes == -1
    assert config.max_message_bytes == 1_048_588
    assert config.cleanup_policy == ("delete",)
    assert config.compression_type == "producer" and config.compression_codec is None
    assert config.min_insync_replicas == 1
    assert config.message_timestamp_type == "CreateTime"
    assert config.message_timestamp_type_id == 0
    assert config.min_cleanable_dirty_ratio == 0.5
    assert config.flush_messages == 2**63 - 1
    assert config.index_interval_bytes == 4096
    assert config.segment_index_bytes == 10_485_760
    assert config.unclean_leader_election_enable is False
    assert config.message_downconversion_enable is True
    assert config.effective_local_retention_ms == config.retention_ms


def test_every_key_kafka_documents_is_known() -> None:
    expected = {
        "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
        "flush.messages", "flush.ms", "index.interval.bytes", "max.compaction.lag.ms",
        "max.message.bytes", "message.timestamp.type", "message.timestamp.before.max.ms",
        "message.timestamp.after.max.ms", "message.timestamp.difference.max.ms",
        "message.downconversion.enable", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
        "min.insync.replicas", "preallocate", "retention.bytes", "retention.ms", "segment.bytes",
        "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
        "local.retention.ms", "local.retention.bytes", "remote.storage.enable",
        "leader.replication.throttled.replicas", "follower.replication.throttled.replicas",
    }  # fmt: skip
    assert expected <= set(TOPIC_CONFIGS)
    assert all(key.doc for key in TOPIC_CONFIGS.values())


def test_topic_override_wins_over_broker_and_default() -> None:
    config = LogConfig.from_props(
        {"retention.ms": "1000", "cleanup.policy": "compact, delete", "compression.type": "zstd"},
        {
            "log.retention.ms": "5000",
            "log.segment.bytes": "2097152",
            "message.max.bytes": "2000000",
        },
    )
    assert config.retention_ms == 1000
    assert config.segment_bytes == 2_097_152
    assert config.max_message_bytes == 2_000_000
    assert config.cleanup_policy == ("compact", "delete")
    assert config.compact and config.delete
    assert config.compression_codec is CompressionType.ZSTD


def test_broker_synonyms_in_kafka_order_with_unit_conversion() -> None:
    assert LogConfig.from_props({}, {"log.retention.hours": "2"}).retention_ms == 7_200_000
    assert LogConfig.from_props({}, {"log.retention.minutes": "3"}).retention_ms == 180_000
    both = {"log.retention.minutes": "3", "log.retention.hours": "2"}
    assert LogConfig.from_props({}, both).retention_ms == 180_000
    all_three = {**both, "log.retention.ms": "42"}
    assert LogConfig.from_props({}, all_three).retention_ms == 42
    assert LogConfig.from_props({}, {"log.retention.hours": "-1"}).retention_ms == -1
    assert LogConfig.from_props({}, {"log.roll.hours": "1"}).segment_ms == 3_600_000
    assert LogConfig.from_props({}, {"log.flush.scheduler.interval.ms": "9"}).flush_ms == 9


def test_dynamic_broker_configs_take_precedence_over_static() -> None:
    config = LogConfig.from_props(
        {},
        {"log.retention.ms": "1"},
        dynamic_default_broker_configs={"log.retention.ms": "2"},
        dynamic_broker_configs={"log.retention.ms": "3"},
    )
    assert config.retention_ms == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retention.ms", "-2"),
        ("retention.ms", "soon"),
        ("segment.bytes", "10"),
        ("segment.bytes", str(2**31)),
        ("cleanup.policy", "compact,archive"),
        ("cleanup.policy", ""),
        ("compression.type", "brotli"),
        ("message.timestamp.type", "createtime"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("min.insync.replicas", "0"),
        ("preallocate", "yes"),
        ("compression.gzip.level", "0"),
        ("leader.replication.throttled.replicas", "0:1,x"),
        ("local.retention.ms", "-3"),
    ],
)
def test_invalid_values_name_the_key(key: str, value: str) -> None:
    with pytest.raises(InvalidConfigError) as caught:
        validate_topic_configs({key: value})
    assert caught.value.key == key
    assert key in str(caught.value)


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        validate_topic_configs({"retention.msec": "1"})
    assert caught.value.key == "retention.msec"
    with pytest.raises(InvalidConfigError):
        LogConfig.from_props({"log.retention.ms": "1"})


def test_valid_values_pass() -> None:
    validate_topic_configs(
        {
            "retention.ms": "-1",
            "cleanup.policy": "compact",
            "leader.replication.throttled.replicas": "0:1,1:2",
            "follower.replication.throttled.replicas": "*",
            "preallocate": "TRUE",
            "compression.gzip.level": "-1",
            "message.timestamp.type": "LogAppendTime",
            "segment.jitter.ms": " 10 ",
            "retention.bytes": None,
        }
    )
    config = LogConfig.from_props({"message.timestamp.type": "LogAppendTime"})
    assert config.message_timestamp_type_id == 1


def test_cross_key_checks() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        validate_topic_configs({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"})
    assert caught.value.key == "min.compaction.lag.ms"
    with pytest.raises(InvalidConfigError):
        validate_topic_configs({"remote.storage.enable": "true", "cleanup.policy": "compact"})
    with pytest.raises(InvalidConfigError):
        validate_topic_configs(
            {"remote.storage.enable": "true", "retention.ms": "100", "local.retention.ms": "200"}
        )


def test_invalid_broker_value_names_the_broker_key() -> None:
    with pytest.raises(InvalidConfigError) as caught:
        LogConfig.from_props({}, {"log.retention.hours": "many"})
    assert caught.value.key == "log.retention.hours"


def test_to_props_round_trips() -> None:
    config = LogConfig.from_props({"cleanup.policy": "compact,delete", "retention.ms": "5"})
    assert LogConfig.from_props(config.to_props()) == config


def test_describe_reports_sources_and_synonyms() -> None:
    entries = {
        e.name: e
        for e in describe(
            {"retention.ms": "1000"},
            {"log.retention.hours": "1", "log.segment.bytes": "2097152"},
            dynamic_default_broker_configs={"log.retention.ms": "7"},
        )
    }
    assert set(entries) == set(TOPIC_CONFIGS)
    retention = entries["retention.ms"]
    assert (retention.value, retention.source) == ("1000", ConfigSource.TOPIC_CONFIG)
    assert [(s.name, s.value, s.source) for s in retention.synonyms] == [
        ("retention.ms", "1000", ConfigSource.TOPIC_CONFIG),
        ("log.retention.ms", "7", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.hours", "1", ConfigSource.STATIC_BROKER_CONFIG),
    ]
    assert retention.type == "LONG" and not retention.read_only and not retention.sensitive
    segment = entries["segment.bytes"]
    assert (segment.value, segment.source) == ("2097152", ConfigSource.STATIC_BROKER_CONFIG)
    policy = entries["cleanup.policy"]
    # As Kafka lists them: the broker key's own default closes the list (where there is one:
    # log.retention.ms has none, its default is log.retention.hours').
    assert (policy.value, policy.source, policy.synonyms) == (
        "delete",
        ConfigSource.DEFAULT_CONFIG,
        (("log.cleanup.policy", "delete", ConfigSource.DEFAULT_CONFIG),),
    )
    assert [(s.name, s.value, s.source) for s in segment.synonyms] == [
        ("log.segment.bytes", "2097152", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG),
    ]
    assert [(s.name, s.value) for s in entries["max.message.bytes"].synonyms] == [
        ("message.max.bytes", "1048588")]
    assert entries["segment.ms"].synonyms == ()
    assert policy.type == "LIST" and policy.documentation
    assert entries["flush.messages"].value == str(2**63 - 1)
