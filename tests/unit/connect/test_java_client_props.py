"""Java client properties in worker and connector configs become librdkafka settings, or are
refused by key with the reason when the config is validated (never at task start)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from brook.connect.api import ConfigException
from brook.connect.runtime.connector_config import client_overrides
from brook.connect.runtime.java_client_props import (
    MAX_CLIENT_SETTINGS,
    msk_iam_signer_available,
    translate,
)
from brook.connect.runtime.validation import RestError, check
from brook.connect.runtime.worker_config import WorkerConfig

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
IAM = "software.amazon.msk.auth.iam.IAMLoginModule"
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def sink(**extra: str) -> dict[str, str]:
    return {"name": "s", "connector.class": "S3SinkConnector", "topics": "t",
            "s3.bucket.name": "bkt", "format.class": "JsonFormat", "flush.size": "3", **extra}


def refused(props: dict[str, str]) -> str:
    with pytest.raises(RestError) as err:
        check(props)
    assert err.value.status == 400
    return err.value.message


@pytest.mark.parametrize("module", [PLAIN, SCRAM])
def test_jaas_credentials_with_quotes_escapes_and_semicolons(module: str) -> None:
    jaas = f'{module} required username="al ice" password="p\\"w;d\\\\x";'
    out = translate({"sasl.jaas.config": jaas, "sasl.mechanism": "SCRAM-SHA-512"})
    assert out.problems == []
    assert out.conf == {"sasl.username": "al ice", "sasl.password": 'p"w;d\\x',
                        "sasl.mechanism": "SCRAM-SHA-512"}


def test_jaas_unquoted_values_and_any_flag() -> None:
    out = translate({"sasl.jaas.config": f"{PLAIN} optional username=bob password=pw;"})
    assert out.conf == {"sasl.username": "bob", "sasl.password": "pw"}


@pytest.mark.parametrize(("jaas", "reason"), [
    (f'{PLAIN} required username="a" password="b"; {SCRAM} required username="c" password="d";',
     "JAAS config property contains 2 login modules, should be 1 module"),
    (f'{PLAIN} required username="a";', "PlainLoginModule needs the option(s) password"),
    (f'{PLAIN} required username="a" password="b"', "missing ';'"),
    (f'{PLAIN} required username="a password=b;', "unterminated quoted value"),
    ("com.example.LoginModule required;", "has no librdkafka equivalent"),
    ("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
     "has no librdkafka equivalent"),
])
def test_bad_or_foreign_jaas_is_refused_with_the_reason(jaas: str, reason: str) -> None:
    message = refused(sink(**{"consumer.override.sasl.jaas.config": jaas}))
    assert "consumer.override.sasl.jaas.config" in message and reason in message
    assert "password=" not in message and '"b"' not in message  # the secret is not echoed


def test_connector_overrides_translate_jaas_for_the_task() -> None:
    props = sink(**{"consumer.override.sasl.jaas.config":
                    f'{SCRAM} required username="u" password="p";',
                    "consumer.override.sasl.mechanism": "SCRAM-SHA-256",
                    "consumer.override.security.protocol": "SASL_SSL",
                    "producer.override.max.request.size": "2097152",
                    "consumer.override.partition.assignment.strategy":
                    "org.apache.kafka.clients.consumer.RangeAssignor,"
                    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
                    "consumer.override.ssl.truststore.certificates": PEM.decode()})
    check(props)
    assert client_overrides(props, "consumer.override.") == {
        "sasl.username": "u", "sasl.password": "p", "sasl.mechanism": "SCRAM-SHA-256",
        "security.protocol": "sasl_ssl", "partition.assignment.strategy": "range",
        "ssl.ca.pem": PEM.decode().strip()}  # values are trimmed, as by Kafka's ConfigDef
    assert client_overrides(props, "producer.override.") == {"message.max.bytes": "2097152"}


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("consumer.override.ssl.truststore.location", "/etc/worker/ca.pem", "read its own files"),
    ("consumer.override.ssl.keystore.location", "/etc/worker/key.p12", "give certificates inline"),
    ("producer.override.interceptor.classes", "com.example.Interceptor", "JVM classes"),
    ("producer.override.value.serializer",
     "org.apache.kafka.common.serialization.StringSerializer", "value.converter"),
    ("consumer.override.sasl.client.callback.handler.class", "com.example.Handler",
     "callback handlers"),
    ("consumer.override.ssl.enabled.protocols", "TLSv1.3", "cannot be limited to TLSv1.3"),
    ("producer.override.max.block.ms", "1000", "no librdkafka equivalent"),
    ("consumer.override.partition.assignment.strategy", "com.example.MyAssignor",
     "no librdkafka equivalent"),
    ("consumer.override.ssl.cipher.suites", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
     "Java (IANA) cipher suite name"),
    ("consumer.override.session.timeout.ms", "soon", "Invalid value"),
    ("consumer.override.session.timeout.ms", "99999999", "outside allowed range"),
    ("producer.override.enable.idempotence", "maybe", "Expected bool value"),
    ("admin.override.security.protocol", "TLS", "must be one of"),
])
def test_untranslatable_client_settings_are_a_400_naming_the_key(key: str, value: str,
                                                                 reason: str) -> None:
    message = refused(sink(**{key: value}))
    assert key in message and reason in message, message
    with pytest.raises(ConfigException):
        client_overrides(sink(**{key: value}), key[:key.index(".override.") + 10])


def test_java_settings_without_effect_on_librdkafka_pass() -> None:
    props = sink(**{"consumer.override.metrics.num.samples": "3",
                    "consumer.override.ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
                    "consumer.override.key.deserializer":
                    "org.apache.kafka.common.serialization.ByteArrayDeserializer",
                    "consumer.override.ssl.endpoint.identification.algorithm": "",
                    "consumer.override.auto.offset.reset": "none",
                    "consumer.override.ssl.cipher.suites": "ECDHE-RSA-AES256-GCM-SHA384"})
    check(props)
    assert client_overrides(props, "consumer.override.") == {
        "ssl.endpoint.identification.algorithm": "none", "auto.offset.reset": "error",
        "ssl.cipher.suites": "ECDHE-RSA-AES256-GCM-SHA384"}


@pytest.mark.skipif(msk_iam_signer_available(), reason="the MSK IAM signer is installed")
def test_msk_iam_is_refused_at_validation_without_a_signer() -> None:
    message = refused(sink(**{"consumer.override.sasl.mechanism": "AWS_MSK_IAM",
                              "consumer.override.sasl.jaas.config": f"{IAM} required;",
                              "consumer.override.sasl.client.callback.handler.class":
                              "software.amazon.msk.auth.iam.IAMClientCallbackHandler"}))
    assert "consumer.override.sasl.mechanism" in message
    assert "MSK IAM token signer" in message


def test_iam_login_module_needs_the_aws_msk_iam_mechanism() -> None:
    message = refused(sink(**{"consumer.override.sasl.mechanism": "PLAIN",
                              "consumer.override.sasl.jaas.config": f"{IAM} required;"}))
    assert "IAMLoginModule needs sasl.mechanism=AWS_MSK_IAM" in message


# --- the worker's own settings: files are the operator's, translated the same way -------------


def test_worker_jaas_and_pem_stores_for_every_client(tmp_path: Path) -> None:
    ca, chain = tmp_path / "ca.pem", tmp_path / "client.pem"
    ca.write_bytes(PEM)
    chain.write_bytes(PEM + b"-----BEGIN PRIVATE KEY-----\n")
    worker = WorkerConfig({
        "bootstrap.servers": "b:9092", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN", "sasl.jaas.config": f'{PLAIN} required username="w" '
                                                       'password="x";',
        "ssl.truststore.location": str(ca), "ssl.truststore.type": "PEM",
        "consumer.ssl.keystore.location": str(chain), "ssl.key.password": "kp",
        "consumer.sasl.jaas.config": f'{PLAIN} required username="c" password="y";',
        "producer.max.poll.records": "10"})
    base = {"bootstrap.servers": "b:9092", "security.protocol": "sasl_ssl",
            "sasl.mechanism": "PLAIN", "ssl.ca.location": str(ca), "ssl.key.password": "kp"}
    assert worker.client_conf() == {**base, "sasl.username": "w", "sasl.password": "x"}
    assert worker.client_conf("consumer") == {
        **base, "sasl.username": "c", "sasl.password": "y",
        "ssl.certificate.location": str(chain), "ssl.key.location": str(chain)}
    assert worker.client_conf("producer")["max.poll.records"] == "10"


def test_worker_pkcs12_key_store_is_read_by_librdkafka(tmp_path: Path) -> None:
    store = tmp_path / "client.p12"
    store.write_bytes(b"\x30\x82\x01\x00" + bytes(60))
    worker = WorkerConfig({"bootstrap.servers": "b:9092", "ssl.keystore.location": str(store),
                           "ssl.keystore.type": "PKCS12", "ssl.keystore.password": "sp"})
    conf = worker.client_conf("admin")
    assert conf["ssl.keystore.location"] == str(store) and conf["ssl.keystore.password"] == "sp"


@pytest.mark.parametrize(("key", "content", "declared", "reason"), [
    ("ssl.truststore.location", b"\xfe\xed\xfe\xed" + bytes(60), None, "A JKS trust store"),
    ("consumer.ssl.truststore.location", b"\x30\x82" + bytes(62), "PKCS12",
     "A PKCS12 trust store"),
    ("producer.ssl.keystore.location", b"\xfe\xed\xfe\xed" + bytes(60), "JKS", "A JKS key store"),
])
def test_worker_stores_librdkafka_cannot_read_stop_the_worker(
        tmp_path: Path, key: str, content: bytes, declared: str | None, reason: str) -> None:
    store = tmp_path / "store"
    store.write_bytes(content)
    props = {"bootstrap.servers": "b:9092", key: str(store)}
    if declared:
        props[key.replace("location", "type")] = declared
    with pytest.raises(ValueError, match=f"^{re.escape(key)}: {reason}"):
        WorkerConfig(props)


def test_a_worker_store_that_cannot_be_read_stops_the_worker(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"ssl\.truststore\.location: The store cannot be read"):
        WorkerConfig({"bootstrap.servers": "b:9092",
                      "ssl.truststore.location": str(tmp_path / "missing.jks")})


def test_a_worker_with_a_java_only_client_key_does_not_start() -> None:
    with pytest.raises(ValueError, match=r"consumer\.interceptor\.classes: Java interceptors"):
        WorkerConfig({"bootstrap.servers": "b:9092",
                      "consumer.interceptor.classes": "com.example.Tracing"})


def test_a_config_cannot_make_the_worker_check_thousands_of_client_settings() -> None:
    many = {f"consumer.override.x{i}": "1" for i in range(MAX_CLIENT_SETTINGS + 1)}
    message = refused(sink(**many))
    assert f"At most {MAX_CLIENT_SETTINGS} client settings" in message


def test_msk_iam_with_a_signer_becomes_oauthbearer_with_signed_tokens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The AWS signer package is not a dependency; a stand-in with its interface shows what
    the worker does when an operator installs it: OAUTHBEARER, tokens for the role asked for."""
    package = tmp_path / "aws_msk_iam_sasl_signer"
    package.mkdir()
    (package / "__init__.py").write_text(
        "class MSKAuthTokenProvider:\n"
        "    @staticmethod\n"
        "    def generate_auth_token_from_role_arn(region, arn):\n"
        "        return f'token:{region}:{arn}', 1_700_000_000_000\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    try:
        out = translate({"sasl.mechanism": "AWS_MSK_IAM", "security.protocol": "SASL_SSL",
                         "sasl.jaas.config":
                         f'{IAM} required awsRoleArn="arn:aws:iam::1:role/c";',
                         "sasl.client.callback.handler.class":
                         "software.amazon.msk.auth.iam.IAMClientCallbackHandler"},
                        prefix="consumer.override.", connector=True)
        assert out.problems == []
        assert out.conf["sasl.mechanism"] == "OAUTHBEARER"
        assert out.conf["oauth_cb"]("") == ("token:eu-west-1:arn:aws:iam::1:role/c",
                                            1_700_000_000.0)
    finally:
        sys.modules.pop("aws_msk_iam_sasl_signer", None)  # later tests see no signer again
