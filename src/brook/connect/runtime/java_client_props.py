"""Kafka's Java client properties, as written in worker and connector configs, for librdkafka.

Users bring ``connect-distributed.properties`` files and connector configs written for Kafka
Connect, whose clients are Java: ``sasl.jaas.config``, key and trust stores, Java class names.
brook's tasks run librdkafka clients, so each Java setting is translated where librdkafka has
an equivalent and refused otherwise - by key, with the reason, when the config is validated
(a 400 for a connector, a worker that does not start) rather than as a task that fails later.

* ``sasl.jaas.config`` with ``PlainLoginModule``/``ScramLoginModule`` becomes
  ``sasl.username``/``sasl.password`` (JAAS parsed with its quoting and escapes; Kafka's rule of
  exactly one login module is kept). ``sasl.mechanism=AWS_MSK_IAM`` with ``IAMLoginModule``
  becomes SASL/OAUTHBEARER with an MSK IAM token callback when the AWS MSK IAM signer package
  is installed, and is refused (with that reason) when it is not.
* ``ssl.truststore.*``/``ssl.keystore.*``: PEM files map to ``ssl.ca.location``,
  ``ssl.certificate.location``/``ssl.key.location``; a PKCS12 key store to librdkafka's own
  PKCS12 ``ssl.keystore.location``. A PKCS12 trust store (librdkafka reads CA certificates only
  as PEM, and brook does not depend on a PKCS12 parser) and any JKS store are refused, saying how
  to convert them. The inline PEM keys (``ssl.truststore.certificates``,
  ``ssl.keystore.certificate.chain``, ``ssl.keystore.key``) map to librdkafka's ``*.pem``.
* Java-only keys are refused with the reason, except the few whose Java values cannot change
  what a librdkafka client does (metrics sampling, JSSE algorithm names at their defaults).
  Anything else is handed to librdkafka, which is asked - key by key, without connecting
  anywhere - whether it knows the name and accepts the value.

**Files.** Paths in the worker's own config are the operator's and are read as given. A
connector config cannot name a file at all (no ``*.location``): the worker would read it with
its own rights, so a connector could present the worker's own private key as its TLS identity,
and ``file.connectors.allowed.dirs`` - directories FileStream connectors may write - is not a
place to trust keys from. A connector brings its certificates inline instead.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer

from brook.cli.properties import PropertiesError, parse_jaas_config
from brook.connect.api import ConfigException

RENAMED = {
    "max.request.size": "message.max.bytes",
    "fetch.max.wait.ms": "fetch.wait.max.ms",
    "receive.buffer.bytes": "socket.receive.buffer.bytes",
    "send.buffer.bytes": "socket.send.buffer.bytes",
    "ssl.truststore.certificates": "ssl.ca.pem",
    "ssl.keystore.certificate.chain": "ssl.certificate.pem",
    "ssl.keystore.key": "ssl.key.pem",
}
"""Java name -> librdkafka name, same meaning."""

IGNORED = frozenset({
    "metrics.num.samples", "metrics.sample.window.ms", "metrics.recording.level",
    "auto.include.jmx.reporter", "ssl.secure.random.implementation",
    # Consumed by the key/trust store translation below.
    "ssl.truststore.type", "ssl.truststore.password", "ssl.keystore.type",
    "ssl.keystore.password",
})
"""Java keys with no effect on what a librdkafka client sends or accepts: dropped."""

DEFAULT_ONLY = {
    "ssl.keymanager.algorithm": ("SunX509",),
    "ssl.trustmanager.algorithm": ("PKIX",),
    "ssl.protocol": ("TLSv1.3", "TLSv1.2", "TLS"),
    "key.serializer": ("org.apache.kafka.common.serialization.ByteArraySerializer",),
    "value.serializer": ("org.apache.kafka.common.serialization.ByteArraySerializer",),
    "key.deserializer": ("org.apache.kafka.common.serialization.ByteArrayDeserializer",),
    "value.deserializer": ("org.apache.kafka.common.serialization.ByteArrayDeserializer",),
    "metric.reporters": ("",),
    "interceptor.classes": ("",),
}
"""Java keys accepted only at values that are what librdkafka does anyway."""

REFUSED = {
    "interceptor.classes": "Java interceptors are JVM classes, which the worker's clients "
                           "(librdkafka) cannot run",
    "metric.reporters": "metrics reporters are JVM classes, which the worker's clients "
                        "(librdkafka) cannot run",
    "key.serializer": "Connect tasks read and write bytes; key.converter and value.converter "
                      "choose the format",
    "security.providers": "Java security providers cannot be loaded by librdkafka",
    "ssl.engine.factory.class": "Java SSL engine factories cannot be loaded by librdkafka",
    "ssl.provider": "Java security providers cannot be loaded by librdkafka",
    "ssl.keymanager.algorithm": "JSSE key manager algorithms do not apply to OpenSSL",
    "ssl.trustmanager.algorithm": "JSSE trust manager algorithms do not apply to OpenSSL",
    "ssl.protocol": "the worker's clients (OpenSSL) negotiate TLS 1.2 or 1.3",
    "sasl.login.class": "Java login classes cannot be loaded by librdkafka",
    "sasl.login.callback.handler.class": "Java callback handlers cannot be loaded by librdkafka",
    "sasl.client.callback.handler.class": "Java callback handlers cannot be loaded by "
                                          "librdkafka (only the MSK IAM handler is understood, "
                                          "with sasl.mechanism=AWS_MSK_IAM)",
    "partitioner.class": "Java partitioners cannot be loaded by librdkafka; librdkafka's "
                         "partitioner setting names its built-in ones",
}
REFUSED["value.serializer"] = REFUSED["key.deserializer"] = REFUSED["value.deserializer"] = (
    REFUSED["key.serializer"])

_ASSIGNORS = {"RangeAssignor": "range", "RoundRobinAssignor": "roundrobin",
              "CooperativeStickyAssignor": "cooperative-sticky", "range": "range",
              "roundrobin": "roundrobin", "cooperative-sticky": "cooperative-sticky"}
_IAM_HANDLER = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
_FORBIDDEN_FOR_CONNECTORS = re.compile(
    r"plugin\.library\.paths|ssl\.engine\..*|ssl_engine_.*|ssl\.providers|"
    r"sasl\.kerberos\..*|sasl\.oauthbearer\..*|.*\.location|ssl\.ca\.certificate\.stores|"
    r".*_cb|opaque|logger")
_SECRET = re.compile(r".*(password|jaas\.config|\.key|secret).*")
_JKS_MAGIC = b"\xfe\xed\xfe\xed"
MAX_CLIENT_SETTINGS = 256
"""More keys than librdkafka has settings: each is checked by configuring a client, so a
request cannot make the worker configure thousands of them."""
_SILENT = logging.getLogger("brook.connect.librdkafka-probe")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


@dataclass
class Translation:
    """A librdkafka configuration and the Java settings that could not be translated."""

    conf: dict[str, Any] = field(default_factory=dict)
    problems: list[ConfigException] = field(default_factory=list)


def msk_iam_signer_available() -> bool:
    return importlib.util.find_spec("aws_msk_iam_sasl_signer") is not None


def _shown(key: str, value: str) -> str:
    return "[hidden]" if _SECRET.fullmatch(key) else value


class _Translator:
    def __init__(self, props: Mapping[str, str], prefix: str, connector: bool) -> None:
        self.props = {k.strip(): str(v).strip() for k, v in props.items() if k.strip()}
        self.written = {k.strip(): k for k in props}  # problems name the key as written
        self.prefix, self.connector = prefix, connector
        self.out = Translation()
        self.iam: dict[str, str] | None = None

    def refuse(self, key: str, reason: str) -> None:
        full = self.prefix + self.written.get(key, key)
        self.out.problems.append(ConfigException(full, _shown(key, self.props.get(key, "")),
                                                 reason))

    def run(self) -> Translation:
        handlers: dict[str, Callable[[str, str], None]] = {
            "sasl.jaas.config": self._jaas, "sasl.mechanism": self._mechanism,
            "sasl.mechanisms": self._mechanism,  # librdkafka's alias
            "sasl.client.callback.handler.class": self._callback_handler,
            "ssl.truststore.location": self._truststore,
            "ssl.keystore.location": self._keystore,
            "ssl.endpoint.identification.algorithm": self._endpoint_identification,
            "ssl.enabled.protocols": self._enabled_protocols,
            "ssl.cipher.suites": self._cipher_suites,
            "partition.assignment.strategy": self._assignors,
            "auto.offset.reset": self._auto_offset_reset, "buffer.memory": self._buffer_memory,
        }
        passed: dict[str, str] = {}
        for key, value in self.props.items():
            if self.connector and _FORBIDDEN_FOR_CONNECTORS.fullmatch(key.lower()):
                self.refuse(key, "This client setting cannot be overridden by a connector: it "
                                 "would make the worker load code, run a command or read its "
                                 "own files" + (" (give certificates inline instead: "
                                                "ssl.truststore.certificates, "
                                                "ssl.keystore.certificate.chain, "
                                                "ssl.keystore.key)"
                                                if key.endswith(".location") else ""))
            elif key in handlers:
                handlers[key](key, value)
            elif key == "security.protocol":
                self._security_protocol(key, value)
            elif key in IGNORED:
                pass
            elif key in DEFAULT_ONLY and value in DEFAULT_ONLY[key]:
                pass
            elif key in REFUSED:
                self.refuse(key, REFUSED[key])
            elif key in RENAMED:
                self.out.conf[RENAMED[key]] = value
            else:
                passed[key] = value
        self._iam_check()
        self._probe(passed)
        return self.out

    def _probe(self, passed: Mapping[str, str]) -> None:
        """Ask librdkafka about each remaining key, alone: a client is configured, never
        started (no ``bootstrap.servers``), so nothing is contacted or read. One key at a time,
        because librdkafka names an alias by its canonical name in its messages."""
        if len(passed) > MAX_CLIENT_SETTINGS:
            self.out.problems.append(ConfigException(
                self.prefix + "*", len(passed), f"At most {MAX_CLIENT_SETTINGS} client "
                                                "settings are accepted"))
            return
        for key, value in passed.items():
            if key == "bootstrap.servers":
                self.out.conf[key] = value
                continue
            try:
                Producer({key: value, "log_level": 0, "logger": _SILENT})
            except KafkaException as exc:
                text = exc.args[0].str() if exc.args else str(exc)
                if text.startswith("No such configuration property"):
                    text = ("Not a setting brook's Kafka clients (librdkafka) know; no "
                            "librdkafka equivalent of this Java client setting")
                self.refuse(key, text.strip())
                continue
            except (TypeError, ValueError) as exc:
                self.refuse(key, str(exc))
                continue
            self.out.conf[key] = value

    def _security_protocol(self, key: str, value: str) -> None:
        """Checked here, not by the librdkafka probe: a probe client configured for SASL
        alone would use GSSAPI, whose start-up runs ``kinit``."""
        if value.lower() not in ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl"):
            self.refuse(key, "String must be one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
            return
        self.out.conf[key] = value.lower()

    def _jaas(self, key: str, value: str) -> None:
        try:
            entries = parse_jaas_config(value)
        except PropertiesError as exc:
            self.refuse(key, str(exc).removeprefix("sasl.jaas.config: "))
            return
        if len(entries) != 1:
            self.refuse(key, f"JAAS config property contains {len(entries)} login modules, "
                             "should be 1 module")
            return
        entry = entries[0]
        opts, name = entry.options, entry.short_name
        if name in ("PlainLoginModule", "ScramLoginModule"):
            missing = [o for o in ("username", "password") if o not in opts]
            if missing:
                self.refuse(key, f"{name} needs the option(s) {', '.join(missing)}")
                return
            self.out.conf["sasl.username"] = opts["username"]
            self.out.conf["sasl.password"] = opts["password"]
        elif name == "IAMLoginModule":
            self.iam = dict(opts)
        else:
            self.refuse(key, f"Login module {entry.module} has no librdkafka equivalent in "
                             "brook's Connect worker (PlainLoginModule, ScramLoginModule and "
                             "the MSK IAMLoginModule are understood)")

    def _mechanism(self, key: str, value: str) -> None:
        if value.upper() == "AWS_MSK_IAM":
            self.iam = self.iam if self.iam is not None else {}
        else:
            self.out.conf["sasl.mechanism"] = value

    def _callback_handler(self, key: str, value: str) -> None:
        if value != _IAM_HANDLER:
            self.refuse(key, REFUSED[key])

    def _iam_check(self) -> None:
        """AWS_MSK_IAM: SASL/OAUTHBEARER with a signed MSK IAM token, when brook can sign."""
        mechanism = (self.props.get("sasl.mechanism") or
                     self.props.get("sasl.mechanisms") or "").upper()
        if self.iam is None:
            return
        if mechanism != "AWS_MSK_IAM":
            self.refuse("sasl.jaas.config", "IAMLoginModule needs sasl.mechanism=AWS_MSK_IAM")
            return
        if not msk_iam_signer_available():
            self.refuse("sasl.mechanism",
                        "AWS_MSK_IAM needs an MSK IAM token signer for librdkafka's "
                        "SASL/OAUTHBEARER, and none is installed on this worker "
                        "(aws-msk-iam-sasl-signer-python)")
            return
        from brook.cli.client_config import IamSettings
        from brook.cli.common import iam_token_source

        settings = IamSettings(self.iam.get("awsProfileName"), self.iam.get("awsRoleArn"))
        self.out.conf["sasl.mechanism"] = "OAUTHBEARER"
        self.out.conf["oauth_cb"] = iam_token_source(
            settings, str(self.props.get("bootstrap.servers", "")))

    def _store_kind(self, key: str, path: str, declared: str | None) -> str | None:
        """PEM, PKCS12 or JKS, from the file's first bytes (Java's own default type is JKS,
        but a PEM file whose type was left unset is read as PEM rather than refused)."""
        try:
            with Path(path).open("rb") as f:
                head = f.read(64)
        except OSError as exc:
            self.refuse(key, f"The store cannot be read: {exc.strerror}")
            return None
        if head.startswith(_JKS_MAGIC):
            return "JKS"
        if b"-----BEGIN" in head:
            return "PEM"
        return (declared or "JKS").strip().upper()

    def _truststore(self, key: str, value: str) -> None:
        kind = self._store_kind(key, value, self.props.get("ssl.truststore.type"))
        if kind == "PEM":
            self.out.conf["ssl.ca.location"] = value
        elif kind is not None:
            self.refuse(key, f"A {kind} trust store cannot be read by brook's Kafka clients "
                             "(librdkafka reads CA certificates as PEM): export them, e.g. "
                             "`openssl pkcs12 -in store.p12 -nokeys -out ca.pem` or "
                             "`keytool -exportcert -rfc`, and set ssl.truststore.type=PEM")

    def _keystore(self, key: str, value: str) -> None:
        kind = self._store_kind(key, value, self.props.get("ssl.keystore.type"))
        if kind == "PEM":
            self.out.conf["ssl.certificate.location"] = value
            self.out.conf["ssl.key.location"] = value
            if "ssl.key.password" in self.props:
                self.out.conf["ssl.key.password"] = self.props["ssl.key.password"]
        elif kind == "PKCS12":
            self.out.conf["ssl.keystore.location"] = value
            if "ssl.keystore.password" in self.props:
                self.out.conf["ssl.keystore.password"] = self.props["ssl.keystore.password"]
        elif kind is not None:
            self.refuse(key, f"A {kind} key store cannot be read by brook's Kafka clients: "
                             "convert it with `keytool -importkeystore -deststoretype PKCS12` "
                             "and set ssl.keystore.type=PKCS12 (or use PEM)")

    def _endpoint_identification(self, key: str, value: str) -> None:
        self.out.conf[key] = value.lower() or "none"

    def _enabled_protocols(self, key: str, value: str) -> None:
        wanted = {v.strip() for v in value.split(",") if v.strip()}
        if not {"TLSv1.2", "TLSv1.3"} <= wanted:
            self.refuse(key, "brook's Kafka clients (OpenSSL) negotiate TLS 1.2 or 1.3 and "
                             "cannot be limited to " + (", ".join(sorted(wanted)) or "nothing"))

    def _cipher_suites(self, key: str, value: str) -> None:
        """Same key in both clients, different names: Java's (IANA) names are refused, an
        OpenSSL cipher list is librdkafka's own setting."""
        java = [c for c in re.split(r"[,:\s]+", value) if c.startswith(("TLS_", "SSL_"))]
        if java:
            self.refuse(key, f"{java[0]} is a Java (IANA) cipher suite name; brook's Kafka "
                             "clients take an OpenSSL cipher list (e.g. "
                             "ECDHE-RSA-AES256-GCM-SHA384)")
        else:
            self.out.conf[key] = value

    def _assignors(self, key: str, value: str) -> None:
        names = []
        for item in (v.strip() for v in value.split(",") if v.strip()):
            short = item.rsplit(".", 1)[-1]
            if short not in _ASSIGNORS:
                self.refuse(key, f"Assignor {item} has no librdkafka equivalent (range, "
                                 "roundrobin, cooperative-sticky)")
                return
            names.append(_ASSIGNORS[short])
        # librdkafka cannot mix eager and cooperative assignors; Kafka's default list
        # (RangeAssignor, CooperativeStickyAssignor) upgrades in steps, which means eager now.
        eager = [n for n in dict.fromkeys(names) if n != "cooperative-sticky"]
        self.out.conf[key] = ",".join(eager or ["cooperative-sticky"])

    def _auto_offset_reset(self, key: str, value: str) -> None:
        self.out.conf[key] = "error" if value.lower() == "none" else value.lower()

    def _buffer_memory(self, key: str, value: str) -> None:
        try:
            self.out.conf["queue.buffering.max.kbytes"] = str(max(1, int(value) // 1024))
        except ValueError:
            self.refuse(key, "Not a number")


def translate(props: Mapping[str, str], *, prefix: str = "", connector: bool = False
              ) -> Translation:
    """librdkafka settings for Java client ``props`` (keys without ``prefix``, which only
    names them in problems); ``connector``: the props come from a connector config, which may
    not load code or name files (see the module docstring)."""
    return _Translator(props, prefix, connector).run()
