"""Worker configuration: Kafka Connect's distributed-worker keys, parsed with ``ConfigDef``.

Users start a worker with the ``connect-distributed.properties`` they already have. Replication
factors default to ``-1`` (the broker's default) rather than Kafka's 3 so that a one-broker
development cluster works without edits; a production file sets them explicitly anyway.

Security defaults differ from Kafka's where Kafka's are open: the REST API listens on
127.0.0.1 unless ``listeners``, ``rest.host.name`` or ``rest.advertised.host.name`` say
otherwise; the FileStream example connectors are off; no local directory is open to
connectors. ``rest.extension.classes`` with Kafka's ``BasicAuthSecurityRestExtension`` turns
on HTTP basic authentication, and an ``https://`` listener serves TLS (``rest_security``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brook.connect.api import ConfigDef, ConfigKey, Importance, Type, WorkerPolicy, at_least
from brook.connect.runtime.connector_config import HEADER_CONVERTERS
from brook.connect.runtime.converters import CONVERTERS

JSON = "org.apache.kafka.connect.json.JsonConverter"
CLIENT_PREFIXES = ("security.", "sasl.", "ssl.", "client.id", "socket.")

WORKER_CONFIG = ConfigDef([
    ConfigKey("bootstrap.servers", Type.LIST, ["localhost:9092"], Importance.HIGH,
              "Kafka brokers the worker connects to."),
    ConfigKey("group.id", Type.STRING, "connect-cluster", Importance.HIGH,
              "The Connect cluster this worker belongs to."),
    ConfigKey("session.timeout.ms", Type.INT, 10000, Importance.HIGH,
              "A worker that does not heartbeat for this long leaves the group; its connectors "
              "and tasks move to the others.", at_least(1)),
    ConfigKey("heartbeat.interval.ms", Type.INT, 3000, Importance.HIGH, "", at_least(1)),
    ConfigKey("config.storage.topic", Type.STRING, "connect-configs", Importance.HIGH, ""),
    ConfigKey("offset.storage.topic", Type.STRING, "connect-offsets", Importance.HIGH, ""),
    ConfigKey("status.storage.topic", Type.STRING, "connect-status", Importance.HIGH, ""),
    ConfigKey("config.storage.replication.factor", Type.INT, -1, Importance.LOW, ""),
    ConfigKey("offset.storage.replication.factor", Type.INT, -1, Importance.LOW, ""),
    ConfigKey("status.storage.replication.factor", Type.INT, -1, Importance.LOW, ""),
    ConfigKey("offset.storage.partitions", Type.INT, 25, Importance.LOW, "", at_least(1)),
    ConfigKey("status.storage.partitions", Type.INT, 5, Importance.LOW, "", at_least(1)),
    ConfigKey("key.converter", Type.CLASS, JSON, Importance.HIGH, ""),
    ConfigKey("value.converter", Type.CLASS, JSON, Importance.HIGH, ""),
    ConfigKey("header.converter", Type.CLASS,
              "org.apache.kafka.connect.storage.SimpleHeaderConverter", Importance.LOW, ""),
    ConfigKey("rest.host.name", Type.STRING, None, Importance.LOW,
              "Interface the REST API binds when no listeners are given (default 127.0.0.1)."),
    ConfigKey("rest.port", Type.INT, 8083, Importance.LOW, "", at_least(0)),
    ConfigKey("listeners", Type.LIST, [], Importance.LOW,
              "e.g. https://0.0.0.0:8443; an empty host (http://:8083) binds every interface."),
    ConfigKey("rest.request.max.bytes", Type.INT, 1024 * 1024, Importance.LOW,
              "Largest REST request body; larger ones are answered 413 without being read.",
              at_least(1)),
    ConfigKey("rest.request.read.timeout.ms", Type.INT, 10000, Importance.LOW,
              "Time a client has to send a whole request (line, headers, body); a connection "
              "that takes longer is closed (slow-loris).", at_least(1)),
    ConfigKey("rest.extension.classes", Type.LIST, [], Importance.LOW,
              "Only Kafka's BasicAuthSecurityRestExtension is known."),
    ConfigKey("rest.basic.auth.credentials.file", Type.STRING, None, Importance.LOW,
              "PropertyFileLoginModule's file (user: password lines) for basic authentication."),
    ConfigKey("java.security.auth.login.config", Type.STRING, None, Importance.LOW,
              "A JAAS file whose KafkaConnect entry names the credentials file, as in Kafka."),
    ConfigKey("file.connectors.enable", Type.BOOLEAN, False, Importance.LOW,
              "Offer the FileStreamSource/FileStreamSink example connectors."),
    ConfigKey("file.connectors.allowed.dirs", Type.LIST, [], Importance.LOW,
              "Directories the FileStream connectors may read and write."),
    ConfigKey("s3.file.store.root", Type.LIST, [], Importance.LOW,
              "Directories under which a connector's file:// store.url may point."),
    ConfigKey("rest.advertised.host.name", Type.STRING, None, Importance.LOW, ""),
    ConfigKey("rest.advertised.port", Type.INT, None, Importance.LOW, ""),
    ConfigKey("offset.flush.interval.ms", Type.LONG, 60000, Importance.LOW,
              "How often tasks commit offsets.", at_least(1)),
    ConfigKey("offset.flush.timeout.ms", Type.LONG, 5000, Importance.LOW, ""),
    ConfigKey("task.shutdown.graceful.timeout.ms", Type.LONG, 5000, Importance.LOW, ""),
    ConfigKey("plugin.path", Type.LIST, [], Importance.LOW, "Accepted and ignored."),
    ConfigKey("config.providers", Type.LIST, [], Importance.LOW,
              "Config providers are not supported; naming one is refused."),
])


BASIC_AUTH_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
DEFAULT_STORE_URL_ENV = "BROOK_S3_DEFAULT_STORE_URL"


@dataclass(frozen=True)
class Listener:
    scheme: str
    host: str
    port: int


def parse_listener(text: str) -> Listener:
    """``http://host:port`` or ``https://[::1]:port``; an empty host means every interface."""
    scheme, sep, hostport = text.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise ValueError(f"listeners: {text!r} must be http://host:port or https://host:port")
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"listeners: {text!r} has no valid port") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"listeners: {text!r} has no valid port")
    return Listener(scheme, host or "0.0.0.0", number)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class WorkerConfig:
    def __init__(self, props: Mapping[str, str]) -> None:
        self.originals = dict(props)
        self.values: dict[str, Any] = WORKER_CONFIG.parse(props)
        if self.values["listeners"]:
            self.listener = parse_listener(self.values["listeners"][0])
        else:
            host = self.values["rest.host.name"]
            advertised = self.values["rest.advertised.host.name"]
            if not host:
                # Peers reach a worker at its advertised name: that must be served, so a
                # non-loopback advertised host widens the bind as in Kafka; nothing else does.
                host = "0.0.0.0" if advertised and not _is_loopback(advertised) else "127.0.0.1"
            self.listener = Listener("http", str(host), int(self.values["rest.port"]))
        for key in ("key.converter", "value.converter", "header.converter"):
            cls = str(self.values[key]).strip()
            if cls not in CONVERTERS and cls not in HEADER_CONVERTERS:
                raise ValueError(f"{key}: Class {cls} could not be found.")
        for cls in self.values["rest.extension.classes"]:
            if cls != BASIC_AUTH_EXTENSION:
                raise ValueError(f"rest.extension.classes: Class {cls} could not be found.")
        for alias in self.values.get("config.providers") or []:
            provider = props.get(f"config.providers.{alias}.class")
            raise ValueError(f"config.providers: Class {provider} could not be found.")

    @property
    def rest_host(self) -> str:
        return self.listener.host

    @property
    def rest_port(self) -> int:
        return self.listener.port

    @property
    def basic_auth(self) -> bool:
        return BASIC_AUTH_EXTENSION in self.values["rest.extension.classes"]

    def policy(self) -> WorkerPolicy:
        """Local paths connectors may use: from this configuration only."""
        roots = [Path(d) for d in self.values["s3.file.store.root"]]
        default = os.environ.get(DEFAULT_STORE_URL_ENV, "")
        if default.startswith("file://"):
            roots.append(Path(default[len("file://"):]))
        return WorkerPolicy(file_dirs=tuple(Path(d) for d in self.values[
                                "file.connectors.allowed.dirs"]),
                            store_roots=tuple(roots))

    def get(self, key: str) -> Any:
        return self.values[key]

    def client_conf(self, prefix: str | None = None) -> dict[str, Any]:
        """librdkafka settings: bootstrap, security, then ``<prefix>.`` overrides."""
        conf: dict[str, Any] = {"bootstrap.servers": ",".join(self.values["bootstrap.servers"])}
        conf.update({k: v for k, v in self.originals.items() if k.startswith(CLIENT_PREFIXES)})
        if prefix:
            p = prefix + "."
            conf.update({k[len(p):]: v for k, v in self.originals.items() if k.startswith(p)})
        return conf

    def worker_id(self, bound_port: int) -> str:
        host = self.values["rest.advertised.host.name"] or (
            "127.0.0.1" if self.rest_host in ("0.0.0.0", "::", "") else self.rest_host)
        port = self.values["rest.advertised.port"] or bound_port
        return f"{host}:{port}"
