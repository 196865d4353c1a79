"""Worker configuration: Kafka Connect's distributed-worker keys, parsed with ``ConfigDef``.

The keys themselves (defaults, documentation, validators) are declared in
``brook.config.connect_worker``; this module parses a worker's properties with them and derives
what the worker needs (the REST listener, client settings, the connectors' local-path policy).

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

from brook.config.connect_worker import BASIC_AUTH_EXTENSION, WORKER_KEYS
from brook.connect.api import ConfigDef, WorkerPolicy
from brook.connect.runtime import java_client_props
from brook.connect.runtime.config_providers import from_worker
from brook.connect.runtime.connector_config import HEADER_CONVERTERS
from brook.connect.runtime.converters import CONVERTERS

CLIENT_PREFIXES = ("security.", "sasl.", "ssl.", "client.id", "socket.")

WORKER_CONFIG = ConfigDef(WORKER_KEYS.values())
"""The worker's keys (``brook.config.connect_worker``) with Connect's parsing and messages."""

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
        self.config_providers = from_worker(props, list(self.values.get("config.providers") or []))
        self.clients = {prefix: self._translate(prefix)
                        for prefix in (None, "consumer", "producer", "admin")}

    def _translate(self, prefix: str | None) -> dict[str, Any]:
        """The worker's Java client settings for one kind of client, as librdkafka settings.

        The top-level security/client keys apply to every client and ``<prefix>.`` keys
        override them, as in Kafka Connect; both are written with Java's names and are
        translated together (``java_client_props``), so ``consumer.sasl.jaas.config`` and a
        top-level ``sasl.mechanism`` make one configuration. A setting that cannot be
        translated stops the worker at start-up, naming the key and the reason.
        """
        java: dict[str, str] = {}
        origin: dict[str, str] = {}
        for k, v in self.originals.items():
            if k.startswith(CLIENT_PREFIXES):
                java[k], origin[k] = v, k
        if prefix:
            p = prefix + "."
            for k, v in self.originals.items():
                if k.startswith(p) and len(k) > len(p):
                    java[k[len(p):]], origin[k[len(p):]] = v, k
        translation = java_client_props.translate(java)
        if translation.problems:
            raise ValueError("\n".join(
                f"{origin.get(e.name, e.name)}: {e.reason}" for e in translation.problems))
        return translation.conf

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
        """librdkafka settings: bootstrap, security, then ``<prefix>.`` overrides (translated
        from Java's client settings when the worker was configured)."""
        conf: dict[str, Any] = {"bootstrap.servers": ",".join(self.values["bootstrap.servers"])}
        conf.update(self.clients[prefix])
        return conf

    def worker_id(self, bound_port: int) -> str:
        host = self.values["rest.advertised.host.name"] or (
            "127.0.0.1" if self.rest_host in ("0.0.0.0", "::", "") else self.rest_host)
        port = self.values["rest.advertised.port"] or bound_port
        return f"{host}:{port}"
