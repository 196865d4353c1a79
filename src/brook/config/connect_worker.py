"""Kafka Connect's distributed-worker keys: defaults and documentation, declared once.

``brook.connect.runtime.worker_config`` parses a ``connect-distributed.properties`` with these
definitions (through Connect's ``ConfigDef``, which accepts them as they are). They live here
rather than in Connect so that every key brook reads is declared in one package with one type.

Replication factors default to ``-1`` (the broker's default) rather than Kafka's 3 so that a
one-broker development cluster works without edits. Where Kafka's defaults are open, brook's are
closed: the REST API binds 127.0.0.1 unless told otherwise, the FileStream example connectors are
off and no local directory is open to connectors.

Validators word their reasons as Kafka Connect's ``ConfigDef.Range`` does ("Value must be at
least 1"), since a worker's start-up error is what a Connect user already knows.
"""

from __future__ import annotations

from brook.config.defs import ConfigDef, ConfigKey, ConfigType, ConfigValue, Importance, Validator

__all__ = ["BASIC_AUTH_EXTENSION", "JSON_CONVERTER", "WORKER_KEYS"]

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
SIMPLE_HEADER_CONVERTER = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
BASIC_AUTH_EXTENSION = (
    "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
)


def _at_least(minimum: int) -> Validator:
    def check(value: ConfigValue) -> str | None:
        ok = isinstance(value, int | float) and value >= minimum
        return None if ok else f"Value must be at least {minimum}"

    return check


def _key(
    name: str,
    type_: ConfigType,
    default: ConfigValue | None,
    importance: Importance,
    documentation: str = "",
    validator: Validator | None = None,
) -> ConfigKey:
    return ConfigKey(name=name, type=type_, default=default, documentation=documentation,
                     validator=validator, importance=importance)


_HIGH, _LOW = Importance.HIGH, Importance.LOW
_T = ConfigType

WORKER_KEYS = ConfigDef([
    _key("bootstrap.servers", _T.LIST, ("localhost:9092",), _HIGH,
         "Kafka brokers the worker connects to."),
    _key("group.id", _T.STRING, "connect-cluster", _HIGH,
         "The Connect cluster this worker belongs to."),
    _key("session.timeout.ms", _T.INT, 10000, _HIGH,
         "A worker that does not heartbeat for this long leaves the group; its connectors "
         "and tasks move to the others.", _at_least(1)),
    _key("heartbeat.interval.ms", _T.INT, 3000, _HIGH,
         "How often the worker heartbeats to the group coordinator.", _at_least(1)),
    _key("config.storage.topic", _T.STRING, "connect-configs", _HIGH,
         "Topic holding connector and task configurations."),
    _key("offset.storage.topic", _T.STRING, "connect-offsets", _HIGH,
         "Topic holding source connectors' offsets."),
    _key("status.storage.topic", _T.STRING, "connect-status", _HIGH,
         "Topic holding connector and task states."),
    _key("config.storage.replication.factor", _T.INT, 3, _LOW,
         "Replication factor of the config topic when the worker creates it, at most the "
         "brokers the cluster has then (-1: the broker's default.replication.factor)."),
    _key("offset.storage.replication.factor", _T.INT, 3, _LOW,
         "Replication factor of the offset topic when the worker creates it, at most the "
         "brokers the cluster has then (-1: the broker's default.replication.factor)."),
    _key("status.storage.replication.factor", _T.INT, 3, _LOW,
         "Replication factor of the status topic when the worker creates it, at most the "
         "brokers the cluster has then (-1: the broker's default.replication.factor)."),
    _key("offset.storage.partitions", _T.INT, 25, _LOW,
         "Partitions of the offset topic when the worker creates it.", _at_least(1)),
    _key("status.storage.partitions", _T.INT, 5, _LOW,
         "Partitions of the status topic when the worker creates it.", _at_least(1)),
    _key("key.converter", _T.CLASS, JSON_CONVERTER, _HIGH,
         "Converter of record keys for connectors that name none."),
    _key("value.converter", _T.CLASS, JSON_CONVERTER, _HIGH,
         "Converter of record values for connectors that name none."),
    _key("header.converter", _T.CLASS, SIMPLE_HEADER_CONVERTER, _LOW,
         "Converter of record headers for connectors that name none."),
    _key("rest.host.name", _T.STRING, None, _LOW,
         "Interface the REST API binds when no listeners are given (default 127.0.0.1)."),
    _key("rest.port", _T.INT, 8083, _LOW,
         "Port the REST API binds when no listeners are given.", _at_least(0)),
    _key("listeners", _T.LIST, (), _LOW,
         "e.g. https://0.0.0.0:8443; an empty host (http://:8083) binds every interface."),
    _key("rest.request.max.bytes", _T.INT, 1024 * 1024, _LOW,
         "Largest REST request body; larger ones are answered 413 without being read.",
         _at_least(1)),
    _key("rest.request.read.timeout.ms", _T.INT, 10000, _LOW,
         "Time a client has to send a whole request (line, headers, body); a connection "
         "that takes longer is closed (slow-loris).", _at_least(1)),
    _key("rest.extension.classes", _T.LIST, (), _LOW,
         "Only Kafka's BasicAuthSecurityRestExtension is known."),
    _key("rest.basic.auth.credentials.file", _T.STRING, None, _LOW,
         "PropertyFileLoginModule's file (user: password lines) for basic authentication."),
    _key("java.security.auth.login.config", _T.STRING, None, _LOW,
         "A JAAS file whose KafkaConnect entry names the credentials file, as in Kafka."),
    _key("file.connectors.enable", _T.BOOLEAN, False, _LOW,
         "Offer the FileStreamSource/FileStreamSink example connectors."),
    _key("file.connectors.allowed.dirs", _T.LIST, (), _LOW,
         "Directories the FileStream connectors may read and write."),
    _key("s3.file.store.root", _T.LIST, (), _LOW,
         "Directories under which a connector's file:// store.url may point."),
    _key("rest.advertised.host.name", _T.STRING, None, _LOW,
         "Host name peers and clients reach this worker at."),
    _key("rest.advertised.port", _T.INT, None, _LOW,
         "Port peers and clients reach this worker at (default: the bound port)."),
    _key("topic.tracking.enable", _T.BOOLEAN, True, _LOW,
         "Record the topics each connector uses (GET /connectors/{name}/topics)."),
    _key("topic.tracking.allow.reset", _T.BOOLEAN, True, _LOW,
         "Allow PUT /connectors/{name}/topics/reset."),
    _key("offset.flush.interval.ms", _T.LONG, 60000, _LOW,
         "How often tasks commit offsets.", _at_least(1)),
    _key("offset.flush.timeout.ms", _T.LONG, 5000, _LOW,
         "How long an offset commit may take before it is abandoned."),
    _key("task.shutdown.graceful.timeout.ms", _T.LONG, 5000, _LOW,
         "How long a stopping task is waited for."),
    _key("plugin.path", _T.LIST, (), _LOW, "Accepted and ignored."),
    _key("config.providers", _T.LIST, (), _LOW,
         "Aliases of config providers; each names its class in config.providers.<alias>.class "
         "and its settings under config.providers.<alias>.param."),
])
"""Every key a Connect worker reads, in the order Kafka documents them."""
