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

from brook.config.broker import BROKER_CONFIGS
from brook.config.properties import PropertiesError
from brook.config.properties import load_properties as _load_properties
from brook.config.properties import parse_properties as _parse_properties

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


BROKER_DEFAULTS: Mapping[str, str] = MappingProxyType(BROKER_CONFIGS.defaults())
"""Kafka's default of every broker key brook reads (defined in ``brook.config.broker``)."""


def parse_properties(text: str) -> dict[str, str]:
    """``server.properties`` text, read by Java's ``.properties`` rules (``brook.config``)."""
    try:
        return _parse_properties(text, "server.properties")
    except PropertiesError as exc:
        raise ConfigError(str(exc)) from None


def load_properties(path: str) -> dict[str, str]:
    """A ``server.properties`` file, read as every other properties file is (a UTF-8 BOM
    skipped, ISO-8859-1 when not UTF-8); any problem is one ``ConfigError`` line."""
    try:
        return _load_properties(path)
    except PropertiesError as exc:
        raise ConfigError(str(exc)) from None


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


def _value(props: Mapping[str, str], key: str) -> object:
    """``key`` parsed and validated by its definition (blank means unset: its default)."""
    try:
        return BROKER_CONFIGS.value(props, key)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _int(props: Mapping[str, str], key: str) -> int:
    value = _value(props, key)
    assert isinstance(value, int) and not isinstance(value, bool), key
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


def inter_broker_listener_name(props: Mapping[str, str], advertised: tuple[Listener, ...]) -> str:
    """``inter.broker.listener.name`` if set, else as Kafka defaults it: the listener named
    after ``security.inter.broker.protocol`` (PLAINTEXT), else the first advertised listener
    of that protocol. Either must be advertised, since peers connect to what is advertised."""
    name = (props.get("inter.broker.listener.name") or "").strip().upper()
    protocol = (props.get("security.inter.broker.protocol") or "").strip().upper()
    if name and protocol:
        raise ConfigError("only one of inter.broker.listener.name and "
                          "security.inter.broker.protocol may be set")
    names = [lsn.name for lsn in advertised]
    if name:
        if name not in names:
            raise ConfigError(f"inter.broker.listener.name {name} is not among the advertised "
                              f"listeners {', '.join(names)}")
        return name
    protocol = protocol or "PLAINTEXT"
    if protocol in names:
        return protocol
    for lsn in advertised:
        if lsn.security_protocol == protocol:
            return lsn.name
    raise ConfigError(f"no advertised listener uses security.inter.broker.protocol {protocol}; "
                      "set inter.broker.listener.name")


def _bool(props: Mapping[str, str], key: str) -> bool:
    value = _value(props, key)
    assert isinstance(value, bool), key
    return value


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
    def inter_broker_listener_name(self) -> str:
        """The listener brokers reach each other on (Kafka's ``inter.broker.listener.name``):
        follower fetches and forwarded controller requests go to a peer's advertised endpoint
        of this name."""
        return inter_broker_listener_name(self.props, self.advertised_listeners)

    @property
    def metadata_log_dir(self) -> Path:
        return self.log_dirs[0]

    def value(self, key: str) -> str | None:
        """The effective value of a broker-level key (explicit, else Kafka's default)."""
        if key in self.props:
            return self.props[key]
        return BROKER_CONFIGS[key].default_text if key in BROKER_CONFIGS else None

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
        listeners = parse_listeners(props.get("listeners", BROKER_DEFAULTS["listeners"]), protocol_map)
        advertised = (
            parse_listeners(props["advertised.listeners"], protocol_map)
            if props.get("advertised.listeners")
            else tuple(
                Listener(lsn.name, lsn.host or "localhost", lsn.port, lsn.security_protocol)
                for lsn in listeners
            )
        )
        inter_broker_listener_name(props, advertised)  # a mistake is one line at start-up
        dirs = props.get("log.dirs") or props.get("log.dir") or BROKER_DEFAULTS["log.dirs"]
        log_dirs = tuple(Path(d.strip()) for d in dirs.split(",") if d.strip())
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
            queued_max_request_bytes=_int(props, "queued.max.request.bytes"),
            connections_max_idle_ms=_int(props, "connections.max.idle.ms"),
            max_connections=(
                _int(props, "max.connections") if props.get("max.connections") else None
            ),
            max_connections_per_ip=_int(props, "max.connections.per.ip"),
            max_connections_per_ip_overrides=MappingProxyType(
                parse_ip_overrides(props.get("max.connections.per.ip.overrides", ""))
            ),
        )
