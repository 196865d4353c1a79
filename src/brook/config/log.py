"""Kafka's topic-level configurations (Kafka's ``LogConfig`` ``ConfigDef``) and their broker synonyms.

One ``ConfigKey`` per key a client may set with CreateTopics/AlterConfigs or read with
DescribeConfigs: its type, Kafka's default, its validator, a one-line description, and the
broker configurations that supply a cluster-wide default, in Kafka's precedence order
(``ServerTopicConfigSynonyms``). The set of keys and defaults follows Kafka 3.9, the line MSK
runs, including keys Kafka 4 dropped (``message.format.version``,
``message.timestamp.difference.max.ms``, ``message.downconversion.enable``) so configurations
copied from existing clusters load. ``storage.log_config.LogConfig`` parses them.
"""

from __future__ import annotations

from brook.config.defs import (
    LONG_MAX,
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Synonym,
    Validator,
    at_least,
    between,
    one_of,
    subset_of,
)

__all__ = ["BROKER_SYNONYMS_WITHOUT_DEFAULT", "TOPIC_CONFIGS", "TOPIC_SYNONYMS"]

_HOUR_MS = 3_600_000
_MINUTE_MS = 60_000


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
        read_only=False,
        synonyms=tuple(s if isinstance(s, Synonym) else Synonym(s) for s in synonyms),
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
    _key("cleanup.policy", _LIST, ("delete",), "How old segments are cleaned: delete them past retention, compact them to the latest value per key, or both.", subset_of("compact", "delete"), "[compact, delete]", ("log.cleanup.policy",)),
    _key("compression.type", _STR, "producer", "Codec the broker stores batches in; producer keeps the producer's codec.", one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), "[uncompressed, zstd, lz4, snappy, gzip, producer]", ("compression.type",)),
    _key("compression.gzip.level", _INT, -1, "Gzip level used when the broker recompresses with gzip.", between(1, 9, also=-1), "[1,...,9] or -1", ("compression.gzip.level",)),
    _key("compression.lz4.level", _INT, 9, "LZ4 level used when the broker recompresses with lz4.", between(1, 17), "[1,...,17]", ("compression.lz4.level",)),
    _key("compression.zstd.level", _INT, 3, "Zstandard level used when the broker recompresses with zstd.", between(-131072, 22), "[-131072,...,22]", ("compression.zstd.level",)),
    _key("delete.retention.ms", _LONG, 86_400_000, "How long tombstones stay readable in a compacted topic, so consumers see deletes.", at_least(0), "[0,...]", ("log.cleaner.delete.retention.ms",)),
    _key("file.delete.delay.ms", _LONG, 60_000, "Delay before a deleted segment's files are removed from disk.", at_least(0), "[0,...]", ("log.segment.delete.delay.ms",)),
    _key("flush.messages", _LONG, LONG_MAX, "Force an fsync after this many messages; replication, not fsync, is the normal durability.", at_least(1), "[1,...]", ("log.flush.interval.messages",)),
    _key("flush.ms", _LONG, LONG_MAX, "Force an fsync after this much time.", at_least(0), "[0,...]", ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")),
    _key("follower.replication.throttled.replicas", _LIST, (), "Replicas whose follower-side replication is throttled: partition:broker pairs or *.", _throttled_replicas, "[partitionId]:[brokerId],... or *"),
    _key("index.interval.bytes", _INT, 4096, "Bytes of log between two offset index entries.", at_least(0), "[0,...]", ("log.index.interval.bytes",)),
    _key("leader.replication.throttled.replicas", _LIST, (), "Replicas whose leader-side replication is throttled: partition:broker pairs or *.", _throttled_replicas, "[partitionId]:[brokerId],... or *"),
    _key("local.retention.bytes", _LONG, -2, "Bytes kept on local disk when tiered storage is on; -2 means retention.bytes.", at_least(-2), "[-2,...]", ("log.local.retention.bytes",)),
    _key("local.retention.ms", _LONG, -2, "Time data stays on local disk when tiered storage is on; -2 means retention.ms.", at_least(-2), "[-2,...]", ("log.local.retention.ms",)),
    _key("max.compaction.lag.ms", _LONG, LONG_MAX, "Longest a message may stay uncompacted.", at_least(1), "[1,...]", ("log.cleaner.max.compaction.lag.ms",)),
    _key("max.message.bytes", _INT, 1_048_588, "Largest record batch the topic accepts (after compression).", at_least(0), "[0,...]", ("message.max.bytes",)),
    _key("message.downconversion.enable", _BOOL, True, "Whether fetches from old consumers may be down-converted (ignored: brook stores v2 only).", None, "", ("log.message.downconversion.enable",)),
    _key("message.format.version", _STR, "3.0-IV1", "Deprecated; every batch is v2 from 3.0 on.", None, "", ("log.message.format.version",)),
    _key("message.timestamp.after.max.ms", _LONG, LONG_MAX, "How far in the future of the broker's clock a CreateTime timestamp may be.", at_least(0), "[0,...]", ("log.message.timestamp.after.max.ms",)),
    _key("message.timestamp.before.max.ms", _LONG, LONG_MAX, "How far in the past of the broker's clock a CreateTime timestamp may be.", at_least(0), "[0,...]", ("log.message.timestamp.before.max.ms",)),
    _key("message.timestamp.difference.max.ms", _LONG, LONG_MAX, "Deprecated: superseded by message.timestamp.before/after.max.ms.", at_least(0), "[0,...]", ("log.message.timestamp.difference.max.ms",)),
    _key("message.timestamp.type", _STR, "CreateTime", "Whether record timestamps are the producer's (CreateTime) or the broker's append time.", one_of("CreateTime", "LogAppendTime"), "[CreateTime, LogAppendTime]", ("log.message.timestamp.type",)),
    _key("min.cleanable.dirty.ratio", _DOUBLE, 0.5, "Share of the log that must be uncompacted before the cleaner compacts it.", between(0, 1), "[0,...,1]", ("log.cleaner.min.cleanable.ratio",)),
    _key("min.compaction.lag.ms", _LONG, 0, "Shortest time a message stays uncompacted.", at_least(0), "[0,...]", ("log.cleaner.min.compaction.lag.ms",)),
    _key("min.insync.replicas", _INT, 1, "In-sync replicas needed for an acks=all write to succeed.", at_least(1), "[1,...]", ("min.insync.replicas",)),
    _key("preallocate", _BOOL, False, "Preallocate the file of a new segment.", None, "", ("log.preallocate",)),
    _key("remote.log.copy.disable", _BOOL, False, "Stop copying segments to tiered storage while keeping what is there.", None, ""),
    _key("remote.log.delete.on.disable", _BOOL, False, "Delete tiered data when tiered storage is turned off for the topic.", None, ""),
    _key("remote.storage.enable", _BOOL, False, "Tier old segments to remote storage.", None, ""),
    _key("retention.bytes", _LONG, -1, "Largest size a partition may grow to before old segments are deleted; -1 is unlimited.", None, "", ("log.retention.bytes",)),
    _key("retention.ms", _LONG, 604_800_000, "How long segments are kept before deletion; -1 keeps them forever.", at_least(-1), "[-1,...]", ("log.retention.ms", Synonym("log.retention.minutes", _MINUTE_MS), Synonym("log.retention.hours", _HOUR_MS))),
    _key("segment.bytes", _INT, 1_073_741_824, "Size at which a segment is rolled.", at_least(14), "[14,...]", ("log.segment.bytes",)),
    _key("segment.index.bytes", _INT, 10_485_760, "Size of a segment's offset and time index files.", at_least(4), "[4,...]", ("log.index.size.max.bytes",)),
    _key("segment.jitter.ms", _LONG, 0, "Random amount subtracted from segment.ms, so partitions do not all roll at once.", at_least(0), "[0,...]", ("log.roll.jitter.ms", Synonym("log.roll.jitter.hours", _HOUR_MS))),
    _key("segment.ms", _LONG, 604_800_000, "Age at which a segment is rolled even if not full, so retention can delete it.", at_least(1), "[1,...]", ("log.roll.ms", Synonym("log.roll.hours", _HOUR_MS))),
    _key("unclean.leader.election.enable", _BOOL, False, "Whether an out-of-sync replica may become leader, trading data loss for availability.", None, "", ("unclean.leader.election.enable",)),
]  # fmt: skip

TOPIC_CONFIGS = ConfigDef(_KEYS)

TOPIC_SYNONYMS: frozenset[str] = frozenset(
    s.name for key in TOPIC_CONFIGS.values() for s in key.synonyms
)
"""Broker keys read as topic defaults (``log.retention.hours``...): ``LogConfig`` honours them."""

BROKER_SYNONYMS_WITHOUT_DEFAULT: frozenset[str] = frozenset(
    {"log.retention.ms", "log.roll.ms", "log.roll.jitter.ms", "log.flush.interval.ms"}
)
"""First broker synonyms that Kafka leaves unset by default (the default lives in another
unit, ``log.retention.hours``, or nowhere). Every other topic key's first broker synonym has
Kafka's topic default as its own, which DescribeConfigs lists as a ``DEFAULT_CONFIG``
synonym."""
