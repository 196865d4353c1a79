"""server.properties parsing and broker configuration errors."""

from __future__ import annotations

import pytest

from brook.broker.config import BrokerConfig, ConfigError, parse_properties


def test_properties_syntax() -> None:
    text = "# comment\n! also\nnode.id=3\nlisteners : PLAINTEXT://h:1\nlong.value=a,\\\n   b\n\n"
    assert parse_properties(text) == {
        "node.id": "3", "listeners": "PLAINTEXT://h:1", "long.value": "a,b"}


def test_listeners_and_advertised_listeners() -> None:
    c = BrokerConfig.from_props({
        "node.id": "2",
        "listeners": "PLAINTEXT://0.0.0.0:9092,INTERNAL://127.0.0.1:9093",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        "advertised.listeners": "PLAINTEXT://broker2:9092,INTERNAL://127.0.0.1:9093",
        "log.dirs": "/tmp/a,/tmp/b",
    })
    assert c.node_id == 2
    assert [lsn.name for lsn in c.listeners] == ["PLAINTEXT", "INTERNAL"]
    assert c.advertised_listeners[0].host == "broker2"
    assert [str(d) for d in c.log_dirs] == ["/tmp/a", "/tmp/b"]
    assert c.num_partitions == 1 and c.auto_create_topics_enable


@pytest.mark.parametrize(
    "props, message",
    [
        ({"listeners": "nonsense"}, "NAME://host:port"),
        ({"listeners": "FOO://h:1"}, "unknown security protocol"),
        ({"num.partitions": "0"}, "num.partitions"),
        ({"auto.create.topics.enable": "maybe"}, "true or false"),
        ({"socket.request.max.bytes": "lots"}, "integer"),
    ],
)
def test_bad_configuration_is_one_clear_error(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerConfig.from_props({"node.id": "1", **props})


@pytest.mark.parametrize("listeners, protocol_map", [
    ("SSL://127.0.0.1:9093", ""),
    ("SASL_PLAINTEXT://127.0.0.1:9094", ""),
    ("SASL_SSL://127.0.0.1:9095", ""),
    ("PLAINTEXT://127.0.0.1:9092,CLIENT://127.0.0.1:9096", "CLIENT:SSL,PLAINTEXT:PLAINTEXT"),
])
def test_listeners_that_cannot_be_secured_are_refused(listeners: str, protocol_map: str) -> None:
    props = {"node.id": "1", "listeners": listeners}
    if protocol_map:
        props["listener.security.protocol.map"] = protocol_map
    with pytest.raises(ConfigError, match=r"not supported.*refusing to serve it as"):
        BrokerConfig.from_props(props)


def test_unused_secure_protocol_map_entries_are_harmless() -> None:
    c = BrokerConfig.from_props({
        "node.id": "1", "listeners": "PLAINTEXT://127.0.0.1:9092",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL",
    })
    assert [lsn.security_protocol for lsn in c.listeners] == ["PLAINTEXT"]


def test_sample_server_properties_parses_with_the_documented_limits() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "config" / "server.properties").read_text()
    c = BrokerConfig.from_props(parse_properties(text))
    assert c.queued_max_request_bytes == 256 * 1024 * 1024
    assert c.connections_max_idle_ms == 600_000
    assert c.max_connections is None and c.max_connections_per_ip == 2147483647
    assert dict(c.max_connections_per_ip_overrides) == {}
    assert [lsn.security_protocol for lsn in c.listeners] == ["PLAINTEXT"]


def _listeners(**props: str) -> BrokerConfig:
    return BrokerConfig.from_props({"node.id": "1", **props})


def test_the_inter_broker_listener_defaults_to_plaintext() -> None:
    assert _listeners().inter_broker_listener_name == "PLAINTEXT"
    two = _listeners(listeners="CLIENT://:9092,PLAINTEXT://:9093",
                     **{"listener.security.protocol.map": "CLIENT:PLAINTEXT,PLAINTEXT:PLAINTEXT"})
    assert two.inter_broker_listener_name == "PLAINTEXT"
    renamed = _listeners(listeners="CLIENT://:9092,INTERNAL://:9093",
                         **{"listener.security.protocol.map": "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT"})
    assert renamed.inter_broker_listener_name == "CLIENT"  # the first of the protocol


def test_the_inter_broker_listener_is_an_advertised_one() -> None:
    props = {"listeners": "PLAINTEXT://:9092,REPLICATION://:9093",
             "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT"}
    chosen = _listeners(**props, **{"inter.broker.listener.name": "replication"})
    assert chosen.inter_broker_listener_name == "REPLICATION"
    with pytest.raises(ConfigError, match="not among the advertised listeners"):
        _listeners(**props, **{"inter.broker.listener.name": "REPLICATION",
                               "advertised.listeners": "PLAINTEXT://h:9092"})
    with pytest.raises(ConfigError, match="only one of"):
        _listeners(**props, **{"inter.broker.listener.name": "REPLICATION",
                               "security.inter.broker.protocol": "PLAINTEXT"})
    with pytest.raises(ConfigError, match=r"security\.inter\.broker\.protocol SSL"):
        _listeners(**props, **{"security.inter.broker.protocol": "SSL"})
