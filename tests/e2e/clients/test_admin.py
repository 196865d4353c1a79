"""Admin API flows with confluent-kafka's AdminClient against a live broker."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from tests.support import wire
from tests.support.ck import (
    TIMEOUT,
    Rec,
    admin,
    consume,
    consumer,
    produce,
    unique_topic,
    wait_event,
)

pytestmark = pytest.mark.timeout(90)

OPTS = {"request_timeout": TIMEOUT, "operation_timeout": TIMEOUT}


@pytest.fixture(name="a", scope="module")
def fixture_admin(bootstrap: str) -> AdminClient:
    return admin(bootstrap)


def error_code(fut: Future[Any]) -> int:
    with pytest.raises(KafkaException) as exc:
        fut.result(timeout=TIMEOUT)
    return int(exc.value.args[0].code())


def create(a: AdminClient, prefix: str, partitions: int = 1, **config: str) -> str:
    name = unique_topic(prefix)
    a.create_topics([NewTopic(name, partitions, 1, config=config)], **OPTS)[name].result(TIMEOUT)
    return name


def topics(a: AdminClient) -> dict[str, Any]:
    return dict(a.list_topics(timeout=TIMEOUT).topics)


def describe(a: AdminClient, topic: str) -> dict[str, ConfigEntry]:
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return dict(a.describe_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT))


def test_validate_only_creates_nothing(a: AdminClient) -> None:
    name = unique_topic("adm-validate")
    futs = a.create_topics([NewTopic(name, 3, 1)], validate_only=True, **OPTS)
    assert futs[name].result(TIMEOUT) is None
    assert name not in topics(a)
    a.create_topics([NewTopic(name, 3, 1)], **OPTS)[name].result(TIMEOUT)
    assert len(topics(a)[name].partitions) == 3


@pytest.mark.parametrize("name", ["has space", "slash/x", ".", "..", "x" * 250, "ünï"])
def test_invalid_topic_name(a: AdminClient, name: str) -> None:
    futs = a.create_topics([NewTopic(name, 1, 1)], **OPTS)
    assert error_code(futs[name]) == KafkaError.TOPIC_EXCEPTION


def test_duplicate_topic(a: AdminClient) -> None:
    name = create(a, "adm-dup")
    futs = a.create_topics([NewTopic(name, 1, 1)], **OPTS)
    assert error_code(futs[name]) == KafkaError.TOPIC_ALREADY_EXISTS
    futs = a.create_topics([NewTopic(name, 1, 1)], validate_only=True, **OPTS)
    assert error_code(futs[name]) == KafkaError.TOPIC_ALREADY_EXISTS


def test_replication_factor_above_broker_count(a: AdminClient) -> None:
    name = unique_topic("adm-rf2")
    futs = a.create_topics([NewTopic(name, 1, 2)], **OPTS)
    assert error_code(futs[name]) == KafkaError.INVALID_REPLICATION_FACTOR
    assert name not in topics(a)


@pytest.mark.parametrize("config", [{"retention.ms": "forever"}, {"cleanup.policy": "sometimes"},
                                    {"no.such.topic.config": "1"}])
def test_bad_config_value(a: AdminClient, config: dict[str, str]) -> None:
    name = unique_topic("adm-badcfg")
    futs = a.create_topics([NewTopic(name, 1, 1, config=config)], **OPTS)
    assert error_code(futs[name]) == KafkaError.INVALID_CONFIG
    assert name not in topics(a)


def test_delete_topic_and_recreate_is_empty(bootstrap: str, a: AdminClient) -> None:
    name = create(a, "adm-del")
    produce(bootstrap, name, [Rec(value=b"x")] * 3)
    a.delete_topics([name], **OPTS)[name].result(TIMEOUT)
    assert name not in topics(a)
    assert error_code(a.delete_topics([name], **OPTS)[name]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    a.create_topics([NewTopic(name, 1, 1)], **OPTS)[name].result(TIMEOUT)
    c = consumer(bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT) == (0, 0)
    finally:
        c.close()


def test_create_partitions(bootstrap: str, a: AdminClient) -> None:
    name = create(a, "adm-parts")
    a.create_partitions([NewPartitions(name, 4)], **OPTS)[name].result(TIMEOUT)
    assert sorted(topics(a)[name].partitions) == [0, 1, 2, 3]
    assert produce(bootstrap, name, [Rec(value=b"p3", partition=3)]) == [(3, 0)]
    assert [m.value() for m in consume(bootstrap, name, partition=3)] == [b"p3"]
    for count in (2, 4):
        futs = a.create_partitions([NewPartitions(name, count)], **OPTS)
        assert error_code(futs[name]) == KafkaError.INVALID_PARTITIONS
    missing = unique_topic("adm-missing")
    futs = a.create_partitions([NewPartitions(missing, 2)], **OPTS)
    assert error_code(futs[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_configs_defaults_and_overrides(a: AdminClient) -> None:
    name = create(a, "adm-desc", **{"retention.ms": "3600000", "cleanup.policy": "compact"})
    cfg = describe(a, name)
    assert (cfg["retention.ms"].value, cfg["retention.ms"].source) == (
        "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert not cfg["retention.ms"].is_default
    assert (cfg["cleanup.policy"].value, cfg["cleanup.policy"].source) == (
        "compact", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    for key, default in {"segment.bytes": "1073741824", "max.message.bytes": "1048588",
                         "min.insync.replicas": "1", "compression.type": "producer"}.items():
        assert (cfg[key].value, cfg[key].source, cfg[key].is_default) == (
            default, ConfigSource.DEFAULT_CONFIG.value, True), key

    broker = ConfigResource(ConfigResource.Type.BROKER, "1")
    bcfg = a.describe_configs([broker], request_timeout=TIMEOUT)[broker].result(TIMEOUT)
    assert bcfg["message.max.bytes"].value == "1048588"
    missing = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("adm-nope"))
    fut = a.describe_configs([missing], request_timeout=TIMEOUT)[missing]
    assert error_code(fut) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_incremental_alter_configs(a: AdminClient) -> None:
    name = create(a, "adm-incr", **{"retention.ms": "3600000"})
    res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("segment.ms", "600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
    ])
    a.incremental_alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    cfg = describe(a, name)
    assert (cfg["segment.ms"].value, cfg["segment.ms"].source) == (
        "600000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert (cfg["retention.ms"].value, cfg["retention.ms"].source) == (
        "604800000", ConfigSource.DEFAULT_CONFIG.value)
    assert cfg["cleanup.policy"].value == "delete,compact"

    bad = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    assert error_code(a.incremental_alter_configs([bad], request_timeout=TIMEOUT)[bad]) == (
        KafkaError.INVALID_CONFIG)
    assert describe(a, name)["retention.ms"].value == "604800000"


def test_alter_configs_replaces_the_whole_set(a: AdminClient) -> None:
    name = create(a, "adm-alter", **{"cleanup.policy": "compact"})
    res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "5000"})
    a.alter_configs([res], request_timeout=TIMEOUT)[res].result(TIMEOUT)
    cfg = describe(a, name)
    assert (cfg["retention.ms"].value, cfg["retention.ms"].source) == (
        "5000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert (cfg["cleanup.policy"].value, cfg["cleanup.policy"].source) == (
        "delete", ConfigSource.DEFAULT_CONFIG.value)
    bad = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "x"})
    assert error_code(a.alter_configs([bad], request_timeout=TIMEOUT)[bad]) == (
        KafkaError.INVALID_CONFIG)


def test_describe_cluster(bootstrap: str, a: AdminClient) -> None:
    cluster = a.describe_cluster(request_timeout=TIMEOUT).result(TIMEOUT)
    host, port = bootstrap.split(":")
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, host, int(port))]
    assert cluster.controller is not None and cluster.controller.id == 1
    assert isinstance(cluster.cluster_id, str) and cluster.cluster_id


def test_delete_records_moves_log_start(bootstrap: str, a: AdminClient) -> None:
    name = create(a, "adm-delrec")
    produce(bootstrap, name, [Rec(value=b"%d" % i) for i in range(10)])
    tp = TopicPartition(name, 0, 4)
    [fut] = a.delete_records([tp], request_timeout=TIMEOUT, operation_timeout=TIMEOUT).values()
    assert fut.result(TIMEOUT).low_watermark == 4
    c = consumer(bootstrap, **{"auto.offset.reset": "error"})
    try:
        assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT) == (4, 10)
        c.assign([TopicPartition(name, 0, 0)])
        ev = wait_event(c)
        assert ev.error() is not None and ev.error().code() == KafkaError._AUTO_OFFSET_RESET
    finally:
        c.close()
    got = consume(bootstrap, name, offset=0)
    assert [(m.offset(), m.value()) for m in got] == [(i, b"%d" % i) for i in range(4, 10)]

    beyond = TopicPartition(name, 0, 11)
    [fut] = a.delete_records([beyond], request_timeout=TIMEOUT).values()
    assert error_code(fut) == KafkaError.OFFSET_OUT_OF_RANGE
    to_end = TopicPartition(name, 0, -1)
    [fut] = a.delete_records([to_end], request_timeout=TIMEOUT).values()
    assert fut.result(TIMEOUT).low_watermark == 10


# Wide topics get a broker of their own, so a slow create cannot stall the tests above.
def test_excessive_partition_count_is_rejected_with_an_error_code(broker_factory: Any) -> None:
    a = admin(broker_factory().bootstrap)
    name = unique_topic("adm-huge")
    futs = a.create_topics([NewTopic(name, 100_000, 1)], **OPTS)
    assert error_code(futs[name]) in (KafkaError.POLICY_VIOLATION, KafkaError.INVALID_PARTITIONS)
    assert name not in topics(a)


def test_thousand_partitions_do_not_stall_other_clients(broker_factory: Any) -> None:
    b = broker_factory()
    a = admin(b.bootstrap)
    name = unique_topic("adm-wide")
    done = threading.Event()
    fut = a.create_topics([NewTopic(name, 1000, 1)], request_timeout=15, operation_timeout=15)[name]
    fut.add_done_callback(lambda _: done.set())
    t0 = time.monotonic()
    worst = 0.0
    with wire.connect(b.port) as s:
        corr = 0
        while not done.wait(0.05):
            corr += 1
            sent = time.monotonic()
            s.sendall(wire.api_versions_v0(corr))
            assert wire.read_frame(s, 60) is not None
            worst = max(worst, time.monotonic() - sent)
    took = time.monotonic() - t0
    assert fut.exception(0) is None and worst < 1.0 and took < 10, (
        f"creating 1000 partitions: {fut.exception(0)} after {took:.1f}s; "
        f"another connection waited up to {worst:.1f}s for ApiVersions")
    assert len(topics(a)[name].partitions) == 1000
