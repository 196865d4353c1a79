"""Mapping Java client properties onto librdkafka configuration."""

from __future__ import annotations

import re

import pytest
from confluent_kafka import Producer

from brook.cli import common
from brook.cli.client_config import merge, to_librdkafka
from brook.cli.common import CliError
from brook.cli.properties import PropertiesError


def test_plaintext_passthrough():
    cfg = to_librdkafka({"security.protocol": "PLAINTEXT", "bootstrap.servers": "h:9092"})
    assert cfg.conf == {"security.protocol": "plaintext", "bootstrap.servers": "h:9092"}
    assert cfg.warnings == [] and cfg.iam is None


def test_values_and_keys_are_trimmed():
    cfg = to_librdkafka({" acks ": " all  ", "linger.ms": "5 "})
    assert cfg.conf == {"acks": "all", "linger.ms": "5"}


def test_common_client_keys_pass_through_unchanged():
    keys = {
        "acks": "all",
        "compression.type": "zstd",
        "enable.idempotence": "true",
        "linger.ms": "5",
        "batch.size": "16384",
        "request.timeout.ms": "30000",
        "client.id": "cli",
        "group.id": "g",
        "enable.auto.commit": "false",
        "isolation.level": "read_committed",
        "fetch.max.bytes": "1048576",
        "max.partition.fetch.bytes": "65536",
        "session.timeout.ms": "10000",
        "ssl.ca.location": "/etc/ca.pem",
    }
    assert to_librdkafka(keys).conf == keys


def test_renamed_keys():
    cfg = to_librdkafka(
        {
            "max.request.size": "2000000",
            "fetch.max.wait.ms": "100",
            "receive.buffer.bytes": "1024",
            "send.buffer.bytes": "2048",
            "buffer.memory": "33554432",
        }
    )
    assert cfg.conf == {
        "message.max.bytes": "2000000",
        "fetch.wait.max.ms": "100",
        "socket.receive.buffer.bytes": "1024",
        "socket.send.buffer.bytes": "2048",
        "queue.buffering.max.kbytes": "32768",
    }


def test_bad_buffer_memory():
    with pytest.raises(PropertiesError, match=r"buffer\.memory"):
        to_librdkafka({"buffer.memory": "lots"}, source="f")


def test_scram_jaas_to_username_password():
    cfg = to_librdkafka(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
            'username="alice" password="pw";',
        }
    )
    assert cfg.conf == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "pw",
    }


def test_plain_jaas_infers_mechanism_only_when_missing():
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";'
    assert to_librdkafka({"sasl.jaas.config": jaas}).conf["sasl.mechanism"] == "PLAIN"
    explicit = to_librdkafka({"sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": jaas})
    assert explicit.conf["sasl.mechanism"] == "SCRAM-SHA-256"


def test_iam_tutorial_properties_are_kept_as_iam_settings():
    cfg = to_librdkafka(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "AWS_MSK_IAM",
            "sasl.jaas.config": 'software.amazon.msk.auth.iam.IAMLoginModule required awsProfileName="dev";',
            "sasl.client.callback.handler.class": "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
        },
        source="client.properties",
    )
    assert cfg.iam is not None and cfg.iam.profile == "dev"
    assert cfg.conf == {"security.protocol": "sasl_ssl", "sasl.mechanism": "OAUTHBEARER"}
    assert cfg.warnings == []
    assert any("sasl.client.callback.handler.class" in n for n in cfg.notes)


def test_iam_without_signer_is_a_clear_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", None)
    cfg = to_librdkafka({"sasl.mechanism": "AWS_MSK_IAM", "bootstrap.servers": "b:9098"})
    with pytest.raises(CliError, match=r"AWS_MSK_IAM .* needs an MSK IAM token signer"):
        common.make_client(Producer, cfg, common.ConnectionWatch("b:9098"))


def test_iam_with_signer_uses_oauth_callback(monkeypatch):
    import sys
    import types

    calls = []

    class Provider:
        @staticmethod
        def generate_auth_token(region):
            calls.append(("default", region))
            return "tok", 60_000

        @staticmethod
        def generate_auth_token_from_profile(region, profile):
            calls.append((profile, region))
            return "tok2", 120_000

    module = types.ModuleType("aws_msk_iam_sasl_signer")
    module.MSKAuthTokenProvider = Provider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", module)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    cfg = to_librdkafka({"sasl.jaas.config": "x.IAMLoginModule required awsProfileName=p;"})
    token = common.iam_token_source(cfg.iam, "b-1.c.abc.c2.kafka.eu-west-1.amazonaws.com:9098")
    assert token("") == ("tok2", 120.0)
    assert calls == [("p", "eu-west-1")]


def test_oauthbearer_unsecured_jaas():
    cfg = to_librdkafka(
        {
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.jaas.config": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
            'required unsecuredLoginStringClaim_sub="alice";',
        }
    )
    assert cfg.conf["enable.sasl.oauthbearer.unsecure.jwt"] == "true"
    assert cfg.conf["sasl.oauthbearer.config"] == "principal=alice"


def test_oidc_jaas():
    cfg = to_librdkafka(
        {
            "sasl.oauthbearer.token.endpoint.url": "https://idp/token",
            "sasl.jaas.config": "x.OAuthBearerLoginModule required clientId=c clientSecret=s scope=kafka;",
        }
    )
    assert cfg.conf["sasl.oauthbearer.method"] == "oidc"
    assert cfg.conf["sasl.oauthbearer.client.id"] == "c"
    assert cfg.conf["sasl.oauthbearer.client.secret"] == "s"
    assert cfg.conf["sasl.oauthbearer.scope"] == "kafka"


def test_kerberos_jaas():
    cfg = to_librdkafka(
        {
            "sasl.jaas.config": "com.sun.security.auth.module.Krb5LoginModule required "
            'keyTab="/k.tab" principal="kafka/h@R" serviceName="kafka";'
        }
    )
    assert cfg.conf == {
        "sasl.kerberos.keytab": "/k.tab",
        "sasl.kerberos.principal": "kafka/h@R",
        "sasl.kerberos.service.name": "kafka",
    }


def test_unknown_login_module_warns():
    cfg = to_librdkafka({"sasl.jaas.config": "com.example.Custom required;"}, source="f")
    assert cfg.conf == {}
    assert cfg.warnings == [
        "f: 'sasl.jaas.config' ignored: login module com.example.Custom is not known to librdkafka"
    ]


def test_malformed_jaas_names_the_file():
    with pytest.raises(PropertiesError, match=r"^f: sasl\.jaas\.config"):
        to_librdkafka({"sasl.jaas.config": "x.Module"}, source="f")


def test_jks_truststore_warns_and_is_ignored(tmp_path):
    store = tmp_path / "kafka.client.truststore.jks"
    store.write_bytes(b"\xfe\xed\xfe\xed" + b"\x00" * 20)
    cfg = to_librdkafka(
        {"ssl.truststore.location": str(store), "ssl.truststore.password": "changeit"}, source="f"
    )
    assert cfg.conf == {}
    assert len(cfg.warnings) == 1
    assert "JKS trust store, which librdkafka cannot read" in cfg.warnings[0]


def test_truststore_declared_jks_but_missing_file_still_warns(tmp_path):
    cfg = to_librdkafka({"ssl.truststore.location": str(tmp_path / "none.jks")})
    assert cfg.conf == {} and "JKS" in cfg.warnings[0]


def test_pem_truststore_becomes_ca_location(tmp_path):
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    cfg = to_librdkafka({"ssl.truststore.location": str(pem)})
    assert cfg.conf == {"ssl.ca.location": str(pem)} and cfg.warnings == []
    declared = to_librdkafka({"ssl.truststore.location": "/x", "ssl.truststore.type": "PEM"})
    assert declared.conf == {"ssl.ca.location": "/x"}


def test_keystores(tmp_path):
    p12 = to_librdkafka(
        {
            "ssl.keystore.location": "/k.p12",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.password": "pw",
        }
    )
    assert p12.conf == {"ssl.keystore.location": "/k.p12", "ssl.keystore.password": "pw"}
    pem = tmp_path / "client.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\n")
    cfg = to_librdkafka({"ssl.keystore.location": str(pem), "ssl.key.password": "kp"})
    assert cfg.conf == {
        "ssl.certificate.location": str(pem),
        "ssl.key.location": str(pem),
        "ssl.key.password": "kp",
    }
    jks = to_librdkafka({"ssl.keystore.location": "/k.jks"})
    assert jks.conf == {} and "convert it to PKCS12" in jks.warnings[0]


def test_inline_pem_keys():
    cfg = to_librdkafka(
        {
            "ssl.keystore.key": "KEY",
            "ssl.keystore.certificate.chain": "CERT",
            "ssl.truststore.certificates": "CA",
        }
    )
    assert cfg.conf == {"ssl.key.pem": "KEY", "ssl.certificate.pem": "CERT", "ssl.ca.pem": "CA"}


def test_endpoint_identification():
    assert to_librdkafka({"ssl.endpoint.identification.algorithm": ""}).conf == {
        "ssl.endpoint.identification.algorithm": "none"
    }
    assert to_librdkafka({"ssl.endpoint.identification.algorithm": "HTTPS"}).conf == {
        "ssl.endpoint.identification.algorithm": "https"
    }


def test_assignors_and_offset_reset():
    cfg = to_librdkafka(
        {
            "partition.assignment.strategy": "org.apache.kafka.clients.consumer.RangeAssignor,"
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            "auto.offset.reset": "none",
        }
    )
    assert cfg.conf == {
        "partition.assignment.strategy": "range,cooperative-sticky",
        "auto.offset.reset": "error",
    }
    sticky = to_librdkafka({"partition.assignment.strategy": "org.x.StickyAssignor"})
    assert sticky.conf == {} and sticky.warnings


def test_quiet_and_loud_drops():
    cfg = to_librdkafka(
        {
            "key.serializer": "org.apache.kafka.common.serialization.StringSerializer",
            "ssl.enabled.protocols": "TLSv1.2",
            "max.block.ms": "1000",
            "interceptor.classes": "x.Y",
            "max.poll.records": "10",
        },
        source="f",
    )
    assert cfg.conf == {}
    assert len(cfg.notes) == 3
    assert [w.split("'")[1] for w in cfg.warnings] == ["interceptor.classes", "max.poll.records"]


def test_default_api_timeout_is_for_the_cli():
    cfg = to_librdkafka({"default.api.timeout.ms": "2500"})
    assert cfg.conf == {} and common.api_timeout(cfg) == 2.5
    with pytest.raises(CliError):
        common.api_timeout(to_librdkafka({"default.api.timeout.ms": "soon"}))


def test_merge_prefers_later():
    a = to_librdkafka({"acks": "1", "client.id": "a"}, source="file")
    b = to_librdkafka({"acks": "all"}, source="flag")
    merged = merge(a, b)
    assert merged.conf == {"acks": "all", "client.id": "a"}


def test_make_client_drops_keys_librdkafka_does_not_know(capsys):
    common.set_verbose(False)
    cfg = to_librdkafka(
        {"bootstrap.servers": "127.0.0.1:1", "ssl.keystore.location.typo": "x", "acks": "all"}
    )
    client = common.make_client(Producer, cfg, common.ConnectionWatch("127.0.0.1:1"))
    assert client is not None
    err = capsys.readouterr().err
    assert "'ssl.keystore.location.typo' is not a librdkafka client property; ignored" in err


def test_make_client_rejects_bad_values():
    cfg = to_librdkafka({"bootstrap.servers": "127.0.0.1:1", "security.protocol": "pigeon"})
    with pytest.raises(
        CliError,
        match=re.escape('Invalid value "pigeon" for configuration property "security.protocol"'),
    ):
        common.make_client(Producer, cfg, common.ConnectionWatch("127.0.0.1:1"))


def test_client_config_layers_file_overrides_and_bootstrap(tmp_path, capsys):
    props = tmp_path / "client.properties"
    props.write_text("bootstrap.servers=file:9092\nacks=1\ninterceptor.classes=x\n")
    cfg = common.client_config(
        str(props), {"acks": "all"}, bootstrap=None, flag="--producer.config"
    )
    assert cfg.conf == {"bootstrap.servers": "file:9092", "acks": "all"}
    assert "interceptor.classes" in capsys.readouterr().err
    cfg = common.client_config(str(props), None, bootstrap="flag:9092")
    assert cfg.conf["bootstrap.servers"] == "flag:9092"
    with pytest.raises(CliError, match="missing required option --bootstrap-server") as exc:
        common.client_config(None, None, bootstrap=None)
    assert exc.value.code == 2
    with pytest.raises(CliError, match="does not exist"):
        common.client_config(str(tmp_path / "missing"), None, bootstrap="b:1")


def test_parse_kv():
    assert common.parse_kv(["a=1", "b==2", "c="], "--x") == {"a": "1", "b": "=2", "c": ""}
    with pytest.raises(CliError, match="--x expects key=value"):
        common.parse_kv(["novalue"], "--x")
