"""The broker's own configuration: ``server.properties`` plus command-line flags.

Kafka's key names are kept verbatim at the edge (``log.retention.ms``, ``num.partitions``) and
parsed once into a frozen ``BrokerConfig``. Every raw property is kept too: log-level keys are
the broker-wide defaults that topic configs fall back to (see ``storage.log_config``), and
DescribeConfigs shows them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

SECURITY_PROTOCOLS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}
SERVED_SECURITY_PROTOCOLS = frozenset({"PLAINTEXT"})
"""What the listeners can actually secure today. A listener declared SSL or SASL_* but served
as plaintext without authentication would hand clients a false promise, so it is refused."""

_LISTENER_RE = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)://(?P<host>\[[^\]]*\]|[^:]*):(?P<port>\d+)$")


class ConfigError(ValueError):
    """A broker configuration mistake, reported as one line at start-up."""


@dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int
    security_protocol: str


# Broker-level keys brook reads, with Kafka's defaults. Shown by DescribeConfigs (BROKER).
BROKER_DEFAULTS: Mapping[str, str] = MappingProxyType(
    {
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "socket.request.max.bytes": "104857600",
        "message.max.bytes": "1048588",
        "delete.topic.enable": "true",
        "log.dirs": "/tmp/kafka-logs",
        "log.segment.bytes": "1073741824",
        "log.roll.hours": "168",
        "log.retention.hours": "168",
        "log.retention.bytes": "-1",
        "log.retention.check.interval.ms": "300000",
        "log.flush.offset.checkpoint.interval.ms": "60000",
        "log.cleanup.policy": "delete",
        "log.message.timestamp.type": "CreateTime",
        "log.index.interval.bytes": "4096",
        "log.index.size.max.bytes": "10485760",
        "min.insync.replicas": "1",
        "compression.type": "producer",
        "offsets.topic.num.partitions": "50",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.num.partitions": "50",
        "group.initial.rebalance.delay.ms": "3000",
        "connections.max.idle.ms": "600000",
        "queued.max.requests": "500",
        "queued.max.request.bytes": "268435456",
        "max.connections.per.ip": "2147483647",
        "max.connections.per.ip.overrides": "",
        "producer.id.expiration.ms": "86400000",
        "producer.id.expiration.check.interval.ms": "600000",
        "transactional.id.expiration.ms": "604800000",
        "unclean.leader.election.enable": "false",
        "max.incremental.fetch.session.cache.slots": "1000",
        "fetch.max.bytes": "57671680",
        "broker.rack": "",
    }
)


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` syntax: ``#``/``!`` comments, ``=``/``:`` separators, ``\\``
    continuations."""
    props: dict[str, str] = {}
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            logical += line[:-1]
            continue
        logical += line
        m = re.match(r"^((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)$", logical)
        if m:
            props[m.group(1).replace("\\", "")] = m.group(2)
        elif logical:
            props[logical] = ""
        logical = ""
    return props


def parse_listeners(value: str, protocol_map: Mapping[str, str]) -> tuple[Listener, ...]:
    """Parse ``listeners``/``advertised.listeners``; refuses security protocols brook cannot
    serve yet (TLS, SASL) rather than serving them as unauthenticated plaintext."""
    listeners = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        m = _LISTENER_RE.match(item)
        if m is None:
            raise ConfigError(f"listener {item!r} is not NAME://host:port")
        name = m.group("name").upper()
        protocol = protocol_map.get(name, name)
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"listener {name}: unknown security protocol {protocol!r} "
                "(set listener.security.protocol.map)"
            )
        if protocol not in SERVED_SECURITY_PROTOCOLS:
            raise ConfigError(
                f"listener {name}: security protocol {protocol} is not supported by this broker "
                "(only PLAINTEXT); refusing to serve it as unencrypted, unauthenticated plaintext"
            )
        host = m.group("host").strip("[]")
        listeners.append(Listener(name, host, int(m.group("port")), protocol))
    if not listeners:
        raise ConfigError("no listeners configured")
    return tuple(listeners)


def _int(props: Mapping[str, str], key: str) -> int:
    try:
        return int(props.get(key) or BROKER_DEFAULTS[key])
    except ValueError:
        raise ConfigError(f"{key} must be an integer, got {props.get(key)!r}") from None


def _positive(props: Mapping[str, str], key: str) -> int:
    value = _int(props, key)
    if value < 1:
        raise ConfigError(f"{key} must be at least 1, got {value}")
    return value


def _non_negative(props: Mapping[str, str], key: str) -> int:
    value = _int(props, key)
    if value < 0:
        raise ConfigError(f"{key} must be at least 0, got {value}")
    return value


def parse_ip_overrides(value: str) -> dict[str, int]:
    """``max.connections.per.ip.overrides``: ``host:count`` pairs, comma-separated (Kafka's
    format; an IPv6 address is split at its last colon)."""
    out: dict[str, int] = {}
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        host, sep, count = item.rpartition(":")
        try:
            n = int(count)
        except ValueError:
            n = -1
        if not sep or not host.strip() or n < 0:
            raise ConfigError(
                f"max.connections.per.ip.overrides: {item!r} is not host:count (count >= 0)"
            )
        out[host.strip().strip("[]")] = n
    return out


def _bool(props: Mapping[str, str], key: str) -> bool:
    value = (props.get(key) or BROKER_DEFAULTS[key]).strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    return value == "true"


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    node_id: int
    listeners: tuple[Listener, ...]
    advertised_listeners: tuple[Listener, ...]
    log_dirs: tuple[Path, ...]
    props: Mapping[str, str]
    num_partitions: int
    default_replication_factor: int
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    socket_request_max_bytes: int
    message_max_bytes: int
    rack: str | None
    cluster_id: str | None
    fetch_session_cache_slots: int
    producer_id_expiration_ms: int
    queued_max_request_bytes: int = 268435456
    connections_max_idle_ms: int = 600000
    max_connections: int | None = None
    """None: derived from the descriptor limit at start-up (see ``connection_limits``)."""
    max_connections_per_ip: int = 2147483647
    max_connections_per_ip_overrides: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def metadata_log_dir(self) -> Path:
        return self.log_dirs[0]

    def value(self, key: str) -> str | None:
        """The effective value of a broker-level key (explicit, else Kafka's default)."""
        if key in self.props:
            return self.props[key]
        return BROKER_DEFAULTS.get(key)

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> BrokerConfig:
        props = dict(props)
        node_key = "node.id" if "node.id" in props else "broker.id"
        if node_key not in props:
            raise ConfigError("node.id is required")
        try:
            node_id = int(props[node_key])
        except ValueError:
            raise ConfigError(f"{node_key} must be an integer, got {props[node_key]!r}") from None
        protocol_map = {
            k.strip().upper(): v.strip().upper()
            for k, _, v in (
                item.partition(":")
                for item in props.get("listener.security.protocol.map", "").split(",")
                if item.strip()
            )
        }
        listeners = parse_listeners(props.get("listeners", "PLAINTEXT://:9092"), protocol_map)
        advertised = (
            parse_listeners(props["advertised.listeners"], protocol_map)
            if props.get("advertised.listeners")
            else tuple(
                Listener(lsn.name, lsn.host or "localhost", lsn.port, lsn.security_protocol)
                for lsn in listeners
            )
        )
        dirs = props.get("log.dirs") or props.get("log.dir") or BROKER_DEFAULTS["log.dirs"]
        log_dirs = tuple(Path(d.strip()) for d in dirs.split(",") if d.strip())
        for key in ("num.partitions", "default.replication.factor"):
            if _int(props, key) < 1:
                raise ConfigError(f"{key} must be at least 1")
        return cls(
            node_id=node_id,
            listeners=listeners,
            advertised_listeners=advertised,
            log_dirs=log_dirs,
            props=MappingProxyType(props),
            num_partitions=_int(props, "num.partitions"),
            default_replication_factor=_int(props, "default.replication.factor"),
            auto_create_topics_enable=_bool(props, "auto.create.topics.enable"),
            delete_topic_enable=_bool(props, "delete.topic.enable"),
            socket_request_max_bytes=_int(props, "socket.request.max.bytes"),
            message_max_bytes=_int(props, "message.max.bytes"),
            rack=props.get("broker.rack") or None,
            cluster_id=props.get("cluster.id"),
            fetch_session_cache_slots=_int(props, "max.incremental.fetch.session.cache.slots"),
            producer_id_expiration_ms=_int(props, "producer.id.expiration.ms"),
            queued_max_request_bytes=_positive(props, "queued.max.request.bytes"),
            connections_max_idle_ms=_positive(props, "connections.max.idle.ms"),
            max_connections=(
                _positive(props, "max.connections") if props.get("max.connections") else None
            ),
            max_connections_per_ip=_non_negative(props, "max.connections.per.ip"),
            max_connections_per_ip_overrides=MappingProxyType(
                parse_ip_overrides(props.get("max.connections.per.ip.overrides", ""))
            ),
        )
