"""Translate Java Kafka client properties into librdkafka configuration.

The CLI talks Kafka through librdkafka, but its users hand it files written for the Java
clients. Most keys mean the same in both; the rest are renamed, reshaped (JAAS strings, Java
keystores, assignor class names) or have no librdkafka counterpart. Passing the latter
through would make librdkafka refuse to start, so they are dropped with a warning instead:
the user still sees what was ignored, and the command still runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from brook.cli.properties import PropertiesError, parse_jaas_config

# Java name -> librdkafka name, for keys whose meaning is identical.
RENAMED: dict[str, str] = {
    "max.request.size": "message.max.bytes",
    "fetch.max.wait.ms": "fetch.wait.max.ms",
    "receive.buffer.bytes": "socket.receive.buffer.bytes",
    "send.buffer.bytes": "socket.send.buffer.bytes",
    "ssl.key.password": "ssl.key.password",
    "ssl.keystore.key": "ssl.key.pem",
    "ssl.keystore.certificate.chain": "ssl.certificate.pem",
    "ssl.truststore.certificates": "ssl.ca.pem",
    "sasl.oauthbearer.token.endpoint.url": "sasl.oauthbearer.token.endpoint.url",
}

# Java-only keys that change nothing observable when dropped (class names of (de)serializers,
# JSSE tuning, JMX metrics): noted at debug level only.
DROPPED_QUIETLY: frozenset[str] = frozenset(
    {
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "sasl.client.callback.handler.class",
        "sasl.login.callback.handler.class",
        "ssl.protocol",
        "ssl.enabled.protocols",
        "ssl.keymanager.algorithm",
        "ssl.trustmanager.algorithm",
        "ssl.secure.random.implementation",
        "ssl.truststore.password",
        "ssl.truststore.type",
        "ssl.keystore.type",
        "ssl.keystore.password",
        "exclude.internal.topics",
        "auto.include.jmx.reporter",
        "metric.reporters",
        "metrics.num.samples",
        "metrics.recording.level",
        "metrics.sample.window.ms",
        "max.block.ms",
    }
)

# Java-only keys whose effect the user may rely on: dropped with a warning saying so.
DROPPED_WITH_WARNING: dict[str, str] = {
    "interceptor.classes": "Java interceptors cannot run in librdkafka",
    "max.poll.records": "librdkafka has no per-poll record limit",
    "ssl.cipher.suites": "Java cipher suite names differ from OpenSSL's; set ssl.cipher.suites "
    "with OpenSSL names through --*-property if needed",
    "security.providers": "Java security providers cannot be loaded by librdkafka",
    "ssl.engine.factory.class": "Java SSL engine factories cannot be loaded by librdkafka",
}

# Keys the CLI itself interprets instead of handing them to librdkafka.
CLI_KEYS: frozenset[str] = frozenset({"default.api.timeout.ms"})

_ASSIGNORS = {
    "RangeAssignor": "range",
    "RoundRobinAssignor": "roundrobin",
    "CooperativeStickyAssignor": "cooperative-sticky",
    "range": "range",
    "roundrobin": "roundrobin",
    "cooperative-sticky": "cooperative-sticky",
}

_JKS_MAGIC = b"\xfe\xed\xfe\xed"


@dataclass
class IamSettings:
    """What ``AWS_MSK_IAM`` / ``IAMLoginModule`` asked for; resolved later into a token source."""

    profile: str | None = None
    role_arn: str | None = None


@dataclass
class ClientConfig:
    """The librdkafka configuration plus everything the user should be told about it."""

    conf: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    iam: IamSettings | None = None
    cli: dict[str, str] = field(default_factory=dict)


def _store_kind(path: str, declared: str | None) -> str:
    """Classify a key/trust store as PEM, JKS or PKCS12 from its bytes, else its declared type.

    Java defaults the type to JKS; sniffing the file first avoids rejecting a PEM file whose
    type the user did not bother to declare.
    """
    try:
        head = Path(path).read_bytes()[:64]
    except OSError:
        head = b""
    if head.startswith(_JKS_MAGIC):
        return "JKS"
    if b"-----BEGIN" in head:
        return "PEM"
    return (declared or "JKS").strip().upper()


class _Mapper:
    """Stateful one-pass translation; each handler consumes one Java key."""

    def __init__(self, props: Mapping[str, str], source: str) -> None:
        self.props = {k.strip(): v.strip() for k, v in props.items()}
        self.source = source
        self.out = ClientConfig()
        self.handlers: dict[str, Callable[[str, str], None]] = {
            "security.protocol": self._security_protocol,
            "sasl.mechanism": self._sasl_mechanism,
            "sasl.mechanisms": self._sasl_mechanism,
            "sasl.jaas.config": self._jaas,
            "ssl.truststore.location": self._truststore,
            "ssl.keystore.location": self._keystore,
            "ssl.endpoint.identification.algorithm": self._endpoint_identification,
            "partition.assignment.strategy": self._assignors,
            "auto.offset.reset": self._auto_offset_reset,
            "buffer.memory": self._buffer_memory,
        }

    def warn(self, key: str, why: str) -> None:
        self.out.warnings.append(f"{self.source}: '{key}' ignored: {why}")

    def note(self, msg: str) -> None:
        self.out.notes.append(f"{self.source}: {msg}")

    def run(self) -> ClientConfig:
        for key, value in self.props.items():
            if not key:
                continue
            if key in CLI_KEYS:
                self.out.cli[key] = value
            elif key in self.handlers:
                self.handlers[key](key, value)
            elif key in RENAMED:
                self.out.conf[RENAMED[key]] = value
            elif key in DROPPED_QUIETLY:
                self.note(f"'{key}' has no librdkafka equivalent; ignored")
            elif key in DROPPED_WITH_WARNING:
                self.warn(key, DROPPED_WITH_WARNING[key])
            else:
                # Same name in both clients (bootstrap.servers, acks, linger.ms, group.id, ...)
                # or already a librdkafka name; unknown ones are weeded out at client creation.
                self.out.conf[key] = value
        return self.out

    def _security_protocol(self, key: str, value: str) -> None:
        self.out.conf["security.protocol"] = value.lower()

    def _sasl_mechanism(self, key: str, value: str) -> None:
        if value.upper() == "AWS_MSK_IAM":
            self.out.iam = self.out.iam or IamSettings()
            self.out.conf["sasl.mechanism"] = "OAUTHBEARER"
            self.note("AWS_MSK_IAM is served through SASL/OAUTHBEARER with MSK IAM tokens")
        else:
            self.out.conf["sasl.mechanism"] = value

    def _jaas(self, key: str, value: str) -> None:
        try:
            entries = parse_jaas_config(value)
        except PropertiesError as exc:
            raise PropertiesError(f"{self.source}: {exc}") from None
        entry = entries[0]
        opts = entry.options
        name = entry.short_name
        conf = self.out.conf
        if name in ("ScramLoginModule", "PlainLoginModule"):
            if "username" in opts:
                conf["sasl.username"] = opts["username"]
            if "password" in opts:
                conf["sasl.password"] = opts["password"]
            if name == "PlainLoginModule" and "sasl.mechanism" not in self.props:
                conf.setdefault("sasl.mechanism", "PLAIN")
        elif name == "IAMLoginModule":
            self.out.iam = IamSettings(opts.get("awsProfileName"), opts.get("awsRoleArn"))
            conf["sasl.mechanism"] = "OAUTHBEARER"
        elif name == "OAuthBearerLoginModule":
            sub = opts.get("unsecuredLoginStringClaim_sub")
            if sub is not None:
                conf["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
                conf["sasl.oauthbearer.config"] = f"principal={sub}"
            for java, rd in (
                ("clientId", "sasl.oauthbearer.client.id"),
                ("clientSecret", "sasl.oauthbearer.client.secret"),
                ("scope", "sasl.oauthbearer.scope"),
            ):
                if java in opts:
                    conf[rd] = opts[java]
            if "sasl.oauthbearer.token.endpoint.url" in self.props:
                conf["sasl.oauthbearer.method"] = "oidc"
        elif name == "Krb5LoginModule":
            for java, rd in (
                ("principal", "sasl.kerberos.principal"),
                ("keyTab", "sasl.kerberos.keytab"),
                ("serviceName", "sasl.kerberos.service.name"),
            ):
                if java in opts:
                    conf[rd] = opts[java]
        else:
            self.warn(key, f"login module {entry.module} is not known to librdkafka")
        if len(entries) > 1:
            self.note("sasl.jaas.config lists several login modules; only the first is used")

    def _truststore(self, key: str, value: str) -> None:
        kind = _store_kind(value, self.props.get("ssl.truststore.type"))
        if kind == "PEM":
            self.out.conf["ssl.ca.location"] = value
        else:
            self.warn(
                key,
                f"{value} is a {kind} trust store, which librdkafka cannot read; the system CA "
                "store is used instead (set ssl.ca.location to a PEM CA file to pin a CA)",
            )

    def _keystore(self, key: str, value: str) -> None:
        kind = _store_kind(value, self.props.get("ssl.keystore.type"))
        conf = self.out.conf
        if kind == "PEM":
            conf["ssl.certificate.location"] = value
            conf["ssl.key.location"] = value
        elif kind == "PKCS12":
            conf["ssl.keystore.location"] = value
            if "ssl.keystore.password" in self.props:
                conf["ssl.keystore.password"] = self.props["ssl.keystore.password"]
        else:
            self.warn(
                key,
                f"{value} is a {kind} key store, which librdkafka cannot read; convert it to "
                "PKCS12 (ssl.keystore.type=PKCS12) or PEM (ssl.certificate.location, "
                "ssl.key.location)",
            )

    def _endpoint_identification(self, key: str, value: str) -> None:
        self.out.conf["ssl.endpoint.identification.algorithm"] = value.lower() or "none"

    def _assignors(self, key: str, value: str) -> None:
        names: list[str] = []
        for item in (v.strip() for v in value.split(",")):
            short = item.rsplit(".", 1)[-1]
            if short in _ASSIGNORS:
                names.append(_ASSIGNORS[short])
            elif item:
                self.note(f"assignor {item} has no librdkafka equivalent; skipped")
        if names:
            self.out.conf[key] = ",".join(dict.fromkeys(names))
        else:
            self.warn(key, f"no librdkafka equivalent for {value}; the default is used")

    def _auto_offset_reset(self, key: str, value: str) -> None:
        self.out.conf[key] = "error" if value.lower() == "none" else value.lower()

    def _buffer_memory(self, key: str, value: str) -> None:
        try:
            kbytes = max(1, int(value) // 1024)
        except ValueError:
            raise PropertiesError(
                f"{self.source}: buffer.memory must be a number of bytes"
            ) from None
        self.out.conf["queue.buffering.max.kbytes"] = str(kbytes)


def to_librdkafka(props: Mapping[str, str], source: str = "properties") -> ClientConfig:
    """Map Java client properties to a librdkafka configuration (see the module docstring)."""
    return _Mapper(props, source).run()


def merge(base: ClientConfig, extra: ClientConfig) -> ClientConfig:
    """Layer ``extra`` over ``base`` (later sources, like command-line flags, win)."""
    return ClientConfig(
        conf={**base.conf, **extra.conf},
        warnings=base.warnings + extra.warnings,
        notes=base.notes + extra.notes,
        iam=extra.iam or base.iam,
        cli={**base.cli, **extra.cli},
    )
