"""The table of Kafka's topic-level configurations (Kafka's ``LogConfig`` ``ConfigDef``).

One ``ConfigKey`` per key a client may set with CreateTopics/AlterConfigs or read with
DescribeConfigs: its type, Kafka's default, its validator, a one-line description, and the
broker configurations that supply a cluster-wide default, in Kafka's precedence order
(``ServerTopicConfigSynonyms``). Values are parsed the way Kafka's ``ConfigDef.parseType``
does. The set of keys and defaults follows Kafka 3.9, the line MSK runs, including keys
Kafka 4 dropped (``message.format.version``, ``message.timestamp.difference.max.ms``,
``message.downconversion.enable``) so configurations copied from existing clusters load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = ["TOPIC_CONFIGS", "ConfigKey", "ConfigType", "ConfigValue", "Synonym", "parse_value"]

ConfigValue = int | float | bool | str | tuple[str, ...]
LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000


class ConfigType(Enum):
    """Kafka's ``ConfigDef.Type`` names, as DescribeConfigs v3+ reports them."""

    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"


@dataclass(frozen=True, slots=True)
class Synonym:
    """A broker configuration that gives a topic configuration its default.

    ``multiplier`` converts units (``log.retention.hours`` -> ms).
    """

    name: str
    multiplier: int = 1


Validator = Callable[[ConfigValue], str | None]
"""Returns the reason a parsed value is invalid, or None."""


@dataclass(frozen=True, slots=True)
class ConfigKey:
    name: str
    type: ConfigType
    default: ConfigValue
    doc: str
    validator: Validator | None = None
    valid_values: str = ""
    synonyms: tuple[Synonym, ...] = ()
    sensitive: bool = False

    @property
    def field_name(self) -> str:
        return self.name.replace(".", "_")


def parse_value(config_type: ConfigType, raw: str) -> ConfigValue:
    """Parse a configuration string as Kafka does; ``ValueError`` if it does not parse."""
    text = raw.strip()
    if config_type is ConfigType.BOOLEAN:
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    if config_type in (ConfigType.INT, ConfigType.LONG):
        value = int(text, 10)
        limit = INT_MAX if config_type is ConfigType.INT else LONG_MAX
        if not -limit - 1 <= value <= limit:
            raise ValueError(f"out of range for {config_type.value}")
        return value
    if config_type is ConfigType.DOUBLE:
        return float(text)
    if config_type is ConfigType.LIST:
        return tuple(item.strip() for item in text.split(",")) if text else ()
    return text


def _at_least(minimum: int) -> Validator:
    def check(value: ConfigValue) -> str | None:
        return (
            None
            if isinstance(value, int | float) and value >= minimum
            else f"must be at least {minimum}"
        )

    return check


def _between(low: float, high: float, *, also: int | None = None) -> Validator:
    def check(value: ConfigValue) -> str | None:
        if isinstance(value, int | float) and (low <= value <= high or value == also):
            return None
        extra = f" or {also}" if also is not None else ""
        return f"must be between {low} and {high}{extra}"

    return check


def _one_of(*allowed: str) -> Validator:
    def check(value: ConfigValue) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _subset_of(*allowed: str) -> Validator:
    def check(value: ConfigValue) -> str | None:
        items = value if isinstance(value, tuple) else ()
        if not items or any(item not in allowed for item in items):
            return f"must be a non-empty list of {', '.join(allowed)}"
        return None

    return check


def _throttled_replicas(value: ConfigValue) -> str | None:
    """``*`` or ``partition:broker`` pairs (Kafka's ``ThrottledReplicaListValidator``)."""
    items = value if isinstance(value, tuple) else ()
    if items == ("*",) or all(
        len(parts := item.split(":")) == 2 and all(p.strip().isdigit() for p in parts)
        for item in items
    ):
        return None
    return "must be * or a list of partition:broker pairs"


def _key(
    name: str,
    config_type: ConfigType,
    default: ConfigValue,
    doc: str,
    validator: Validator | None = None,
    valid_values: str = "",
    synonyms: tuple[str | Synonym, ...] = (),
) -> ConfigKey:
    return ConfigKey(
        name,
        config_type,
        default,
        doc,
        validator,
        valid_values,
        tuple(s if isinstance(s, Synonym) else Synonym(s) for s in synonyms),
    )


_LONG, _INT, _DOUBLE, _BOOL, _STR, _LIST = (
    ConfigType.LONG,
    ConfigType.INT,
    ConfigType.DOUBLE,
    ConfigType.BOOLEAN,
    ConfigType.STRING,
    ConfigType.LIST,
)

_KEYS = [
    _key("cleanup.policy", _LIST, ("delete",), "How old segments are cleaned: delete them past retention, compact them to the latest value per key, or both.", _subset_of("compact", "delete"), "[compact, delete]", ("log.cleanup.policy",)),
    _key("compression.type", _STR, "producer", "Codec the broker stores batches in; producer keeps the producer's codec.", _one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), "[uncompressed, zstd, lz4, snappy, gzip, producer]", ("compression.type",)),
    _key("compression.gzip.level", _INT, -1, "Gzip level used when the broker recompresses with gzip.", _between(1, 9, also=-1), "[1,...,9] or -1", ("compression.gzip.level",)),
    _key("compression.lz4.level", _INT, 9, "LZ4 level used when the broker recompresses with lz4.", _between(1, 17), "[1,...,17]", ("compression.lz4.level",)),
    _key("compression.zstd.level", _INT, 3, "Zstandard level used when the broker recompresses with zstd.", _between(-131072, 22), "[-131072,...,22]", ("compression.zstd.level",)),
    _key("delete.retention.ms", _LONG, 86_400_000, "How long tombstones stay readable in a compacted topic, so consumers see deletes.", _at_least(0), "[0,...]", ("log.cleaner.delete.retention.ms",)),
    _key("file.delete.delay.ms", _LONG, 60_000, "Delay before a deleted segment's files are removed from disk.", _at_least(0), "[0,...]", ("log.segment.delete.delay.ms",)),
    _key("flush.messages", _LONG, LONG_MAX, "Force an fsync after this many messages; replication, not fsync, is the normal durability.", _at_least(1), "[1,...]", ("log.flush.interval.messages",)),
    _key("flush.ms", _LONG, LONG_MAX, "Force an fsync after this much time.", _at_least(0), "[0,...]", ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")),
    _key("follower.replication.throttled.replicas", _LIST, (), "Replicas whose follower-side replication is throttled: partition:broker pairs or *.", _throttled_replicas, "[partitionId]:[brokerId],... or *"),
    _key("index.interval.bytes", _INT, 4096, "Bytes of log between two offset index entries.", _at_least(0), "[0,...]", ("log.index.interval.bytes",)),
    _key("leader.replication.throttled.replicas", _LIST, (), "Replicas whose leader-side replication is throttled: partition:broker pairs or *.", _throttled_replicas, "[partitionId]:[brokerId],... or *"),
    _key("local.retention.bytes", _LONG, -2, "Bytes kept on local disk when tiered storage is on; -2 means retention.bytes.", _at_least(-2), "[-2,...]", ("log.local.retention.bytes",)),
    _key("local.retention.ms", _LONG, -2, "Time data stays on local disk when tiered storage is on; -2 means retention.ms.", _at_least(-2), "[-2,...]", ("log.local.retention.ms",)),
    _key("max.compaction.lag.ms", _LONG, LONG_MAX, "Longest a message may stay uncompacted.", _at_least(1), "[1,...]", ("log.cleaner.max.compaction.lag.ms",)),
    _key("max.message.bytes", _INT, 1_048_588, "Largest record batch the topic accepts (after compression).", _at_least(0), "[0,...]", ("message.max.bytes",)),
    _key("message.downconversion.enable", _BOOL, True, "Whether fetches from old consumers may be down-converted (ignored: brook stores v2 only).", None, "", ("log.message.downconversion.enable",)),
    _key("message.format.version", _STR, "3.0-IV1", "Deprecated; every batch is v2 from 3.0 on.", None, "", ("log.message.format.version",)),
    _key("message.timestamp.after.max.ms", _LONG, LONG_MAX, "How far in the future of the broker's clock a CreateTime timestamp may be.", _at_least(0), "[0,...]", ("log.message.timestamp.after.max.ms",)),
    _key("message.timestamp.before.max.ms", _LONG, LONG_MAX, "How far in the past of the broker's clock a CreateTime timestamp may be.", _at_least(0), "[0,...]", ("log.message.timestamp.before.max.ms",)),
    _key("message.timestamp.difference.max.ms", _LONG, LONG_MAX, "Deprecated: superseded by message.timestamp.before/after.max.ms.", _at_least(0), "[0,...]", ("log.message.timestamp.difference.max.ms",)),
    _key("message.timestamp.type", _STR, "CreateTime", "Whether record timestamps are the producer's (CreateTime) or the broker's append time.", _one_of("CreateTime", "LogAppendTime"), "[CreateTime, LogAppendTime]", ("log.message.timestamp.type",)),
    _key("min.cleanable.dirty.ratio", _DOUBLE, 0.5, "Share of the log that must be uncompacted before the cleaner compacts it.", _between(0, 1), "[0,...,1]", ("log.cleaner.min.cleanable.ratio",)),
    _key("min.compaction.lag.ms", _LONG, 0, "Shortest time a message stays uncompacted.", _at_least(0), "[0,...]", ("log.cleaner.min.compaction.lag.ms",)),
    _key("min.insync.replicas", _INT, 1, "In-sync replicas needed for an acks=all write to succeed.", _at_least(1), "[1,...]", ("min.insync.replicas",)),
    _key("preallocate", _BOOL, False, "Preallocate the file of a new segment.", None, "", ("log.preallocate",)),
    _key("remote.log.copy.disable", _BOOL, False, "Stop copying segments to tiered storage while keeping what is there.", None, ""),
    _key("remote.log.delete.on.disable", _BOOL, False, "Delete tiered data when tiered storage is turned off for the topic.", None, ""),
    _key("remote.storage.enable", _BOOL, False, "Tier old segments to remote storage.", None, ""),
    _key("retention.bytes", _LONG, -1, "Largest size a partition may grow to before old segments are deleted; -1 is unlimited.", None, "", ("log.retention.bytes",)),
    _key("retention.ms", _LONG, 604_800_000, "How long segments are kept before deletion; -1 keeps them forever.", _at_least(-1), "[-1,...]", ("log.retention.ms", Synonym("log.retention.minutes", _MINUTE_MS), Synonym("log.retention.hours", _HOUR_MS))),
    _key("segment.bytes", _INT, 1_073_741_824, "Size at which a segment is rolled.", _at_least(14), "[14,...]", ("log.segment.bytes",)),
    _key("segment.index.bytes", _INT, 10_485_760, "Size of a segment's offset and time index files.", _at_least(4), "[4,...]", ("log.index.size.max.bytes",)),
    _key("segment.jitter.ms", _LONG, 0, "Random amount subtracted from segment.ms, so partitions do not all roll at once.", _at_least(0), "[0,...]", ("log.roll.jitter.ms", Synonym("log.roll.jitter.hours", _HOUR_MS))),
    _key("segment.ms", _LONG, 604_800_000, "Age at which a segment is rolled even if not full, so retention can delete it.", _at_least(1), "[1,...]", ("log.roll.ms", Synonym("log.roll.hours", _HOUR_MS))),
    _key("unclean.leader.election.enable", _BOOL, False, "Whether an out-of-sync replica may become leader, trading data loss for availability.", None, "", ("unclean.leader.election.enable",)),
]  # fmt: skip

TOPIC_CONFIGS: dict[str, ConfigKey] = {key.name: key for key in _KEYS}
