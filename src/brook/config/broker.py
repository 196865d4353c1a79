"""The broker's own configuration keys (Kafka's ``KafkaConfig``), as brook honours them.

Every key here is read by the module named in its ``consumers`` (a test checks that each of
them really reads it), so DescribeConfigs never advertises a setting that changes nothing.
Kafka keys brook does not implement (``queued.max.requests``, ``fetch.max.bytes``,
``transaction.state.log.num.partitions``, ``transactional.id.expiration.ms``...) are absent:
they may appear in a ``server.properties`` copied from Kafka and are ignored there, as Kafka
ignores keys it does not know. Group coordinator keys come from ``brook.config.group`` and the
broker-wide defaults of topic configurations from ``brook.config.log``.
"""

from __future__ import annotations

from brook.config.defs import (
    INT_MAX,
    LONG_MAX,
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    Validator,
    at_least,
    one_of,
)
from brook.config.group import GROUP_CONFIGS
from brook.config.log import TOPIC_CONFIGS

__all__ = ["BROKER_CONFIGS", "LOG_CONFIG_CONSUMER"]

BROKER_CONFIG_MODULE = "brook.broker.config"
LOG_MANAGER = "brook.storage.log_manager"
CLEANER = "brook.storage.cleaner"
CLUSTER = "brook.broker.cluster"
FETCHERS = "brook.replication.fetcher_manager"
REPLICA_SELECTOR = "brook.replication.replica_selector"
REPLICATION_QUOTA = "brook.replication.replication_quota"
REPLICA_SELECTORS = ("org.apache.kafka.common.replica.RackAwareReplicaSelector",
                     "org.apache.kafka.common.replica.LeaderSelector")
"""The built-in selectors ``replica.selector.class`` may name (brook loads no class)."""
LOG_CONFIG_CONSUMER = "brook.storage.log_config"
"""Topic-config synonyms are read by ``LogConfig`` through ``brook.config.log``'s synonyms."""

_HIGH, _MEDIUM, _LOW = Importance.HIGH, Importance.MEDIUM, Importance.LOW
_INT, _LONG, _STR, _BOOL, _LIST, _DOUBLE = (
    ConfigType.INT,
    ConfigType.LONG,
    ConfigType.STRING,
    ConfigType.BOOLEAN,
    ConfigType.LIST,
    ConfigType.DOUBLE,
)


def _key(
    name: str,
    config_type: ConfigType,
    default: ConfigValue | None,
    importance: Importance,
    doc: str,
    consumer: str = BROKER_CONFIG_MODULE,
    validator: Validator | None = None,
    valid_values: str = "",
) -> ConfigKey:
    return ConfigKey(
        name, config_type, default, doc, validator, valid_values, importance,
        consumers=(consumer,),
    )  # fmt: skip


_OWN = [
    _key("node.id", _INT, None, _HIGH, "This broker's id in the cluster (broker.id is accepted too)."),
    _key("broker.id", _INT, None, _LOW, "Kafka's older name for node.id, read when node.id is absent."),
    _key("cluster.id", _STR, None, _LOW, "Cluster id a fresh data directory is formatted with; an existing meta.properties keeps its own."),
    _key("log.dir", _STR, None, _LOW, "A single log directory, read when log.dirs is absent."),
    _key("listeners", _STR, "PLAINTEXT://:9092", _HIGH, "Comma-separated NAME://host:port addresses the broker listens on."),
    _key("advertised.listeners", _STR, None, _HIGH, "Addresses given to clients, if not those of listeners."),
    _key("listener.security.protocol.map", _STR, None, _LOW, "NAME:PROTOCOL pairs mapping listener names to security protocols."),
    _key("log.dirs", _STR, "/tmp/kafka-logs", _HIGH, "Directories the partitions' logs are kept in (log.dir is accepted too)."),
    _key("broker.rack", _STR, "", _MEDIUM, "Rack of the broker, given to clients for rack-aware fetching."),
    _key("replica.selector.class", _STR, None, _MEDIUM, "Which replica a consumer naming its rack (client.rack) is told to fetch from (KIP-392): org.apache.kafka.common.replica.RackAwareReplicaSelector (a caught-up in-sync replica in the client's rack) or org.apache.kafka.common.replica.LeaderSelector; unset, consumers read from leaders only. Built-in selectors only: no class is loaded.", REPLICA_SELECTOR, one_of(*REPLICA_SELECTORS), "[null, " + ", ".join(REPLICA_SELECTORS) + "]"),
    _key("metadata.store", _STR, "local", _HIGH, "Where the cluster's metadata lives: 'local' (this broker's own log, a single node) or etcd://host:port,... (a cluster of brokers sharing it).", CLUSTER),
    _key("metadata.log.max.record.bytes.between.snapshots", _LONG, 20_971_520, _HIGH, "Bytes of metadata records after which a cluster's controller snapshots the image into etcd and deletes the records below it.", CLUSTER, at_least(1), "[1,...]"),
    _key("broker.session.timeout.ms", _INT, 9000, _MEDIUM, "How long a broker's registration outlives its last renewal before the controller fences it.", CLUSTER, at_least(2000), "[2000,...]"),
    _key("auto.leader.rebalance.enable", _BOOL, True, _HIGH, "Whether the controller moves leadership back to each partition's preferred replica when a broker's share of partitions it prefers but does not lead passes leader.imbalance.per.broker.percentage.", CLUSTER),
    _key("leader.imbalance.check.interval.seconds", _LONG, 300, _HIGH, "How often the controller checks the leader imbalance.", CLUSTER, at_least(1), "[1,...]"),
    _key("leader.imbalance.per.broker.percentage", _INT, 10, _HIGH, "Percentage of a broker's preferred partitions led elsewhere that triggers a leader rebalance.", CLUSTER, at_least(0), "[0,...]"),
    _key("controlled.shutdown.enable", _BOOL, True, _MEDIUM, "Whether a stopping broker first asks the controller to move its leaderships to other in-sync replicas.", CLUSTER),
    _key("controlled.shutdown.max.retries", _INT, 3, _MEDIUM, "With controlled.shutdown.retry.backoff.ms, bounds how long a stopping broker waits for its leaderships to move: retries times backoff.", CLUSTER, at_least(0), "[0,...]"),
    _key("controlled.shutdown.retry.backoff.ms", _LONG, 5000, _MEDIUM, "With controlled.shutdown.max.retries, bounds how long a stopping broker waits for its leaderships to move.", CLUSTER, at_least(0), "[0,...]"),
    _key("auto.create.topics.enable", _BOOL, True, _HIGH, "Create a topic a client asks metadata for or produces to when it does not exist."),
    _key("num.partitions", _INT, 1, _MEDIUM, "Partitions of a topic created without a partition count.", validator=at_least(1), valid_values="[1,...]"),
    _key("default.replication.factor", _INT, 1, _MEDIUM, "Replication factor of a topic created without one.", validator=at_least(1), valid_values="[1,...]"),
    _key("delete.topic.enable", _BOOL, True, _HIGH, "Whether DeleteTopics may delete topics."),
    _key("socket.request.max.bytes", _INT, 104_857_600, _HIGH, "Largest request a client may send; a larger size prefix closes the connection.", validator=at_least(1), valid_values="[1,...]"),
    _key("replica.lag.time.max.ms", _LONG, 30_000, _HIGH, "A follower that has not caught up with the leader's log end for this long is removed from the ISR (checked every half of it).", "brook.replication.replica_manager", at_least(1), "[1,...]"),
    _key("queued.max.request.bytes", _LONG, 268_435_456, _MEDIUM, "Bytes of requests being read at once across connections; a connection waits while the pool is exhausted.", validator=at_least(1), valid_values="[1,...]"),
    _key("connections.max.idle.ms", _LONG, 600_000, _MEDIUM, "A connection with no complete request or response for this long is closed.", validator=at_least(1), valid_values="[1,...]"),
    _key("max.connections", _INT, None, _MEDIUM, "Most connections the broker accepts; by default derived from the descriptor limit.", validator=at_least(1), valid_values="[1,...]"),
    _key("max.connections.per.ip", _INT, INT_MAX, _MEDIUM, "Most connections accepted from one address.", validator=at_least(0), valid_values="[0,...]"),
    _key("max.connections.per.ip.overrides", _STR, "", _MEDIUM, "host:count pairs overriding max.connections.per.ip for those hosts."),
    _key("max.incremental.fetch.session.cache.slots", _INT, 1000, _MEDIUM, "Incremental fetch sessions the broker keeps.", validator=at_least(0), valid_values="[0,...]"),
    _key("producer.id.expiration.ms", _INT, 86_400_000, _LOW, "How long a producer id's state is kept after its last write.", LOG_MANAGER, at_least(1), "[1,...]"),
    _key("producer.id.expiration.check.interval.ms", _INT, 600_000, _LOW, "How often expired producer ids are removed.", LOG_MANAGER, at_least(1), "[1,...]"),
    _key("log.retention.check.interval.ms", _LONG, 300_000, _MEDIUM, "How often segments past retention are looked for.", LOG_MANAGER, at_least(1), "[1,...]"),
    _key("log.flush.offset.checkpoint.interval.ms", _INT, 60_000, _HIGH, "How often the recovery points are checkpointed.", LOG_MANAGER, at_least(0), "[0,...]"),
    _key("replica.high.watermark.checkpoint.interval.ms", _LONG, 5_000, _HIGH, "How often the high watermarks are checkpointed; a restarted replica starts from the checkpointed one.", LOG_MANAGER, at_least(1), "[1,...]"),
    _key("log.flush.start.offset.checkpoint.interval.ms", _INT, 60_000, _HIGH, "How often the log start offsets are checkpointed.", LOG_MANAGER, at_least(0), "[0,...]"),
    _key("log.cleaner.enable", _BOOL, True, _MEDIUM, "Run the log cleaner, which compacts topics with cleanup.policy=compact.", CLEANER),
    _key("log.cleaner.backoff.ms", _LONG, 15_000, _MEDIUM, "Sleep of the cleaner when there is nothing to clean.", CLEANER, at_least(0), "[0,...]"),
    _key("log.cleaner.dedupe.buffer.size", _LONG, 134_217_728, _MEDIUM, "Memory for the cleaner's offset map.", CLEANER),
    _key("log.cleaner.io.buffer.load.factor", _DOUBLE, 0.9, _MEDIUM, "How full the cleaner's offset map may get.", CLEANER),
    _key("log.cleaner.io.buffer.size", _INT, 524_288, _MEDIUM, "I/O buffer of the cleaner.", CLEANER, at_least(0), "[0,...]"),
]  # fmt: skip

# How a follower copies its leaders' partitions (Kafka's replica fetcher keys) and which
# listener brokers reach each other on.
_REPLICATION = [
    _key("inter.broker.listener.name", _STR, None, _MEDIUM, "Listener (of advertised.listeners) brokers use to reach each other: follower fetches and requests forwarded to the controller. By default the listener named after security.inter.broker.protocol, else the first listener of that protocol."),
    _key("security.inter.broker.protocol", _STR, "PLAINTEXT", _MEDIUM, "Security protocol between brokers when inter.broker.listener.name is not set.", validator=None, valid_values="[PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL]"),
    _key("num.replica.fetchers", _INT, 1, _HIGH, "Fetcher tasks per leader broker; partitions are spread over them by a hash.", FETCHERS, at_least(1), "[1,...]"),
    _key("replica.fetch.wait.max.ms", _INT, 500, _MEDIUM, "How long a follower's fetch waits at the leader for min bytes.", FETCHERS, at_least(0), "[0,...]"),
    _key("replica.fetch.min.bytes", _INT, 1, _MEDIUM, "Bytes a follower's fetch waits for at the leader.", FETCHERS, at_least(1), "[1,...]"),
    _key("replica.fetch.max.bytes", _INT, 1_048_576, _MEDIUM, "Bytes a follower fetches per partition (at least one whole batch).", FETCHERS, at_least(0), "[0,...]"),
    _key("replica.fetch.response.max.bytes", _INT, 10_485_760, _MEDIUM, "Bytes a follower's fetch asks for in all (at least one whole batch).", FETCHERS, at_least(0), "[0,...]"),
    _key("replica.fetch.backoff.ms", _INT, 1_000, _MEDIUM, "Wait before a follower retries a leader it could not fetch from.", FETCHERS, at_least(0), "[0,...]"),
    _key("replica.socket.timeout.ms", _INT, 30_000, _HIGH, "How long a follower waits for its leader's answer before reconnecting.", FETCHERS, at_least(1), "[1,...]"),
    _key("replication.quota.window.num", _INT, 11, _LOW, "Samples the replication throttles measure their byte rate over.", REPLICATION_QUOTA, at_least(1), "[1,...]"),
    _key("replication.quota.window.size.seconds", _INT, 1, _LOW, "Length of each sample the replication throttles measure their byte rate over.", REPLICATION_QUOTA, at_least(1), "[1,...]"),
]  # fmt: skip

# Broker-wide defaults of topic configurations that Kafka gives a default of their own (the
# rest, e.g. log.retention.ms, default to nothing and defer to the next synonym).
_LOG_DEFAULTS: dict[str, tuple[ConfigType, ConfigValue]] = {
    "log.segment.bytes": (_INT, 1_073_741_824),
    "log.roll.hours": (_INT, 168),
    "log.retention.hours": (_INT, 168),
    "log.retention.bytes": (_LONG, -1),
    "log.cleanup.policy": (_LIST, ("delete",)),
    "log.message.timestamp.type": (_STR, "CreateTime"),
    "log.index.interval.bytes": (_INT, 4096),
    "log.index.size.max.bytes": (_INT, 10_485_760),
    "min.insync.replicas": (_INT, 1),
    "compression.type": (_STR, "producer"),
    "message.max.bytes": (_INT, 1_048_588),
    "unclean.leader.election.enable": (_BOOL, False),
    "log.flush.scheduler.interval.ms": (_LONG, LONG_MAX),
}


_ALSO_READ_BY: dict[str, tuple[str, ...]] = {
    "log.flush.scheduler.interval.ms": (LOG_MANAGER,),
    "message.max.bytes": (BROKER_CONFIG_MODULE,),
}


def _log_synonyms() -> list[ConfigKey]:
    """One broker key per synonym of a topic config, typed and documented from the topic key."""
    keys: list[ConfigKey] = []
    seen: set[str] = set()
    for topic_key in TOPIC_CONFIGS.values():
        for synonym in topic_key.synonyms:
            if synonym.name in seen:
                continue
            seen.add(synonym.name)
            config_type, default = _LOG_DEFAULTS.get(
                synonym.name,
                (_INT if synonym.multiplier != 1 else topic_key.type, None),
            )
            keys.append(
                ConfigKey(
                    synonym.name,
                    config_type,
                    default,
                    f"Broker-wide default of the topic configuration {topic_key.name}: "
                    + topic_key.documentation,
                    # A multiplied synonym is checked after conversion, by LogConfig.
                    topic_key.validator if synonym.multiplier == 1 else None,
                    topic_key.valid_values if synonym.multiplier == 1 else "",
                    Importance.MEDIUM,
                    consumers=(LOG_CONFIG_CONSUMER, *_ALSO_READ_BY.get(synonym.name, ())),
                )
            )
    return keys


def _group_keys() -> list[ConfigKey]:
    return list(GROUP_CONFIGS.values())


BROKER_CONFIGS = ConfigDef(sorted([*_OWN, *_REPLICATION, *_log_synonyms(), *_group_keys()], key=lambda k: k.name))
"""Every broker-level key brook reads, sorted by name as DescribeConfigs lists them."""

