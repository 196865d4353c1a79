"""Worker configuration: Kafka Connect's distributed-worker keys, parsed with ``ConfigDef``.

Users start a worker with the ``connect-distributed.properties`` they already have. Replication
factors default to ``-1`` (the broker's default) rather than Kafka's 3 so that a one-broker
development cluster works without edits; a production file sets them explicitly anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brook.connect.api import ConfigDef, ConfigKey, Importance, Type, at_least

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
    ConfigKey("rest.host.name", Type.STRING, "0.0.0.0", Importance.LOW, ""),
    ConfigKey("rest.port", Type.INT, 8083, Importance.LOW, "", at_least(0)),
    ConfigKey("listeners", Type.LIST, [], Importance.LOW, "e.g. http://:8083"),
    ConfigKey("rest.advertised.host.name", Type.STRING, None, Importance.LOW, ""),
    ConfigKey("rest.advertised.port", Type.INT, None, Importance.LOW, ""),
    ConfigKey("offset.flush.interval.ms", Type.LONG, 60000, Importance.LOW,
              "How often tasks commit offsets.", at_least(1)),
    ConfigKey("offset.flush.timeout.ms", Type.LONG, 5000, Importance.LOW, ""),
    ConfigKey("task.shutdown.graceful.timeout.ms", Type.LONG, 5000, Importance.LOW, ""),
    ConfigKey("plugin.path", Type.LIST, [], Importance.LOW, "Accepted and ignored."),
])


class WorkerConfig:
    def __init__(self, props: Mapping[str, str]) -> None:
        self.originals = dict(props)
        self.values: dict[str, Any] = WORKER_CONFIG.parse(props)
        host, port = str(self.values["rest.host.name"]), int(self.values["rest.port"])
        for listener in self.values["listeners"]:
            _, _, hostport = listener.partition("://")
            h, _, p = hostport.rpartition(":")
            host, port = h or "0.0.0.0", int(p)
            break
        self.rest_host, self.rest_port = host, port

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
            "127.0.0.1" if self.rest_host in ("0.0.0.0", "") else self.rest_host)
        port = self.values["rest.advertised.port"] or bound_port
        return f"{host}:{port}"
