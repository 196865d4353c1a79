"""A topic's effective configuration: Kafka's ``LogConfig``.

Kafka config keys stay strings at the edges (CreateTopics, AlterConfigs, DescribeConfigs,
the metadata log) and are parsed once, here, into a frozen ``LogConfig`` with typed fields
(Kafka's names for Kafka's settings). A value comes from, in order:

1. the topic's own override (``TOPIC_CONFIG``);
2. the broker configurations that are its synonyms, in Kafka's order (``retention.ms`` <-
   ``log.retention.ms``, ``log.retention.minutes``, ``log.retention.hours``), each taken
   from the per-broker dynamic config, then the cluster-wide dynamic default, then the
   static ``server.properties`` (``DYNAMIC_BROKER_CONFIG``, ``DYNAMIC_DEFAULT_BROKER_CONFIG``,
   ``STATIC_BROKER_CONFIG``);
3. Kafka's default (``DEFAULT_CONFIG``).

``describe`` reports the same walk in the shape DescribeConfigs returns. The keys, defaults,
validators and synonyms are defined once, in ``brook.config.log``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from brook.config.defs import ConfigKey, ConfigValue, format_value, parse_value
from brook.config.log import BROKER_SYNONYMS_WITHOUT_DEFAULT, TOPIC_CONFIGS
from brook.records.compression import CompressionType
from brook.storage.errors import InvalidConfigError

__all__ = [
    "TOPIC_CONFIGS",
    "ConfigEntry",
    "ConfigSource",
    "ConfigSynonymEntry",
    "LogConfig",
    "describe",
    "validate_topic_configs",
]

_EMPTY: Mapping[str, str] = {}


class ConfigSource(enum.IntEnum):
    """Where a value came from; the ids are DescribeConfigs' ``ConfigSource``."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


class ConfigSynonymEntry(NamedTuple):
    name: str
    value: str
    source: ConfigSource


class ConfigEntry(NamedTuple):
    """One row of a DescribeConfigs answer for a topic."""

    name: str
    value: str
    source: ConfigSource
    read_only: bool
    sensitive: bool
    synonyms: tuple[ConfigSynonymEntry, ...]
    type: str
    documentation: str


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Every topic configuration, parsed. Field ``x_y`` is Kafka's key ``x.y``."""

    cleanup_policy: tuple[str, ...]
    compression_type: str
    compression_gzip_level: int
    compression_lz4_level: int
    compression_zstd_level: int
    delete_retention_ms: int
    file_delete_delay_ms: int
    flush_messages: int
    flush_ms: int
    follower_replication_throttled_replicas: tuple[str, ...]
    index_interval_bytes: int
    leader_replication_throttled_replicas: tuple[str, ...]
    local_retention_bytes: int
    local_retention_ms: int
    max_compaction_lag_ms: int
    max_message_bytes: int
    message_downconversion_enable: bool
    message_format_version: str
    message_timestamp_after_max_ms: int
    message_timestamp_before_max_ms: int
    message_timestamp_difference_max_ms: int
    message_timestamp_type: str
    min_cleanable_dirty_ratio: float
    min_compaction_lag_ms: int
    min_insync_replicas: int
    preallocate: bool
    remote_log_copy_disable: bool
    remote_log_delete_on_disable: bool
    remote_storage_enable: bool
    retention_bytes: int
    retention_ms: int
    segment_bytes: int
    segment_index_bytes: int
    segment_jitter_ms: int
    segment_ms: int
    unclean_leader_election_enable: bool

    @classmethod
    def default(cls) -> LogConfig:
        return cls.from_props(_EMPTY)

    @classmethod
    def from_props(
        cls,
        topic_overrides: Mapping[str, str],
        broker_defaults: Mapping[str, str] = _EMPTY,
        *,
        dynamic_default_broker_configs: Mapping[str, str] = _EMPTY,
        dynamic_broker_configs: Mapping[str, str] = _EMPTY,
    ) -> LogConfig:
        """Resolve every key: topic override, then broker synonyms, then Kafka's default.

        ``broker_defaults`` are the static broker properties. Raises ``InvalidConfigError``
        for an unknown topic key or a value that does not parse or validate.
        """
        values: dict[str, Any] = {}
        for key in TOPIC_CONFIGS.values():
            chain = _resolve(
                key,
                topic_overrides,
                broker_defaults,
                dynamic_default_broker_configs,
                dynamic_broker_configs,
            )
            values[key.field_name] = chain[0][3]
        for name in topic_overrides:
            if name not in TOPIC_CONFIGS:
                raise InvalidConfigError(name, "unknown topic configuration")
        config = cls(**values)
        config._validate_combination()
        return config

    # -- derived values -----------------------------------------------------------------------

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def message_timestamp_type_id(self) -> int:
        """0 for CreateTime, 1 for LogAppendTime: the batch attribute bit's value."""
        return 1 if self.message_timestamp_type == "LogAppendTime" else 0

    @property
    def compression_codec(self) -> CompressionType | None:
        """The codec batches are stored in, or ``None`` to keep the producer's."""
        if self.compression_type == "producer":
            return None
        if self.compression_type == "uncompressed":
            return CompressionType.NONE
        return CompressionType[self.compression_type.upper()]

    @property
    def effective_local_retention_ms(self) -> int:
        return self.retention_ms if self.local_retention_ms == -2 else self.local_retention_ms

    @property
    def effective_local_retention_bytes(self) -> int:
        return (
            self.retention_bytes if self.local_retention_bytes == -2 else self.local_retention_bytes
        )

    def to_props(self) -> dict[str, str]:
        """Every key as Kafka would print it."""
        return {key.name: _format(getattr(self, key.field_name)) for key in TOPIC_CONFIGS.values()}

    def _validate_combination(self) -> None:
        """Checks that involve two keys (Kafka's ``LogConfig.validateValues``)."""
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms:
            raise InvalidConfigError(
                "min.compaction.lag.ms",
                f"{self.min_compaction_lag_ms} exceeds max.compaction.lag.ms {self.max_compaction_lag_ms}",
            )
        if self.remote_storage_enable:
            if self.compact:
                raise InvalidConfigError(
                    "remote.storage.enable", "tiered storage needs cleanup.policy=delete only"
                )
            if self.retention_ms != -1 and self.effective_local_retention_ms > self.retention_ms:
                raise InvalidConfigError("local.retention.ms", "must not exceed retention.ms")
            if (
                self.retention_bytes != -1
                and self.effective_local_retention_bytes > self.retention_bytes
            ):
                raise InvalidConfigError("local.retention.bytes", "must not exceed retention.bytes")


def validate_topic_configs(
    props: Mapping[str, str | None], broker_defaults: Mapping[str, str] = _EMPTY
) -> None:
    """Validate configs given in CreateTopics/AlterConfigs; ``InvalidConfigError`` names the key.

    Kafka rejects unknown topic keys with INVALID_CONFIG, and so does brook. A ``None``
    value (a delete in IncrementalAlterConfigs) is checked for the key only.
    """
    overrides: dict[str, str] = {}
    for name, raw in props.items():
        if name not in TOPIC_CONFIGS:
            raise InvalidConfigError(name, "unknown topic configuration")
        if raw is not None:
            _parse(TOPIC_CONFIGS[name], raw)
            overrides[name] = raw
    LogConfig.from_props(overrides, broker_defaults)


def describe(
    topic_overrides: Mapping[str, str],
    broker_defaults: Mapping[str, str] = _EMPTY,
    *,
    dynamic_default_broker_configs: Mapping[str, str] = _EMPTY,
    dynamic_broker_configs: Mapping[str, str] = _EMPTY,
) -> list[ConfigEntry]:
    """DescribeConfigs rows for a topic, every key, with the synonyms that were consulted."""
    entries = []
    for key in TOPIC_CONFIGS.values():
        chain = _resolve(
            key,
            topic_overrides,
            broker_defaults,
            dynamic_default_broker_configs,
            dynamic_broker_configs,
        )
        _, raw, source, _ = chain[0]
        synonyms = tuple(
            ConfigSynonymEntry(n, r, s)
            for n, r, s, _ in chain
            if s is not ConfigSource.DEFAULT_CONFIG
        )
        # Kafka ends the list with the broker key's own default (log.cleanup.policy=delete),
        # which is where the topic default comes from.
        primary = key.synonyms[0].name if key.synonyms else None
        if primary is not None and primary not in BROKER_SYNONYMS_WITHOUT_DEFAULT:
            synonyms += (ConfigSynonymEntry(primary, _default(key), ConfigSource.DEFAULT_CONFIG),)
        entries.append(
            ConfigEntry(
                key.name,
                raw if source is not ConfigSource.DEFAULT_CONFIG else _default(key),
                source,
                False,
                key.sensitive,
                synonyms,
                key.type.value,
                key.documentation,
            )
        )
    return entries


def _resolve(
    key: ConfigKey,
    topic: Mapping[str, str],
    static: Mapping[str, str],
    dynamic_default: Mapping[str, str],
    dynamic: Mapping[str, str],
) -> list[tuple[str, str, ConfigSource, ConfigValue]]:
    """Every place ``key`` is set, highest precedence first, ending with Kafka's default."""
    chain: list[tuple[str, str, ConfigSource, ConfigValue]] = []
    if key.name in topic:
        raw = topic[key.name]
        chain.append((key.name, raw, ConfigSource.TOPIC_CONFIG, _parse(key, raw)))
    for synonym in key.synonyms:
        for layer, source in (
            (dynamic, ConfigSource.DYNAMIC_BROKER_CONFIG),
            (dynamic_default, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
            (static, ConfigSource.STATIC_BROKER_CONFIG),
        ):
            if synonym.name in layer:
                raw = layer[synonym.name]
                value = _parse(key, raw, synonym.name, synonym.multiplier)
                chain.append((synonym.name, raw, source, value))
    assert key.default is not None, key.name
    chain.append((key.name, _default(key), ConfigSource.DEFAULT_CONFIG, key.default))
    return chain


def _parse(key: ConfigKey, raw: str, name: str | None = None, multiplier: int = 1) -> ConfigValue:
    """Parse and validate a value of ``key`` given under ``name`` (itself or a broker synonym)."""
    shown = name or key.name
    try:
        value = parse_value(key.type, raw)
    except ValueError as exc:
        raise InvalidConfigError(shown, f"{raw!r} is not a valid {key.type.value}: {exc}") from None
    if multiplier != 1 and isinstance(value, int) and not isinstance(value, bool):
        # log.retention.hours=-1 means "forever", like log.retention.ms=-1.
        value = -1 if value < 0 else value * multiplier
    if key.validator is not None:
        reason = key.validator(value)
        if reason is not None:
            raise InvalidConfigError(shown, f"{raw!r} {reason}")
    return value


def _format(value: ConfigValue) -> str:
    return format_value(value)


def _default(key: ConfigKey) -> str:
    return key.default_text or ""


assert {f.name for f in fields(LogConfig)} == {k.field_name for k in TOPIC_CONFIGS.values()}, (
    "LogConfig fields and the topic config table disagree"
)
