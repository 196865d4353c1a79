"""Every topic-level configuration survives a restart, in what DescribeConfigs says and in what
the log does.

One broker with a short broker-default retention (``log.retention.ms``) and a short retention
check interval, one topic per topic configuration key with a non-default value, then a restart
(clean SIGTERM, or kill -9) and checks: DescribeConfigs reports every value as the topic's own,
and the logs behave by their topic's settings from the first moment after the restart
(``retention.ms=-1`` and ``cleanup.policy=compact`` keep old records under the short default,
``__consumer_offsets`` stays compacted, ``segment.bytes`` rolls, ``max.message.bytes`` refuses an
oversize record, ``message.timestamp.*`` apply, ``min.insync.replicas`` refuses acks=all).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from brook.storage.log_config_defs import TOPIC_CONFIGS
from tests.support.ck import TIMEOUT, admin, consumer

pytestmark = pytest.mark.timeout(240)

BROKER = {
    "log.retention.ms": "1500",
    "log.retention.check.interval.ms": "200",
    "offsets.topic.num.partitions": "1",
}
HOUR_MS = 3_600_000

# A non-default value for every topic configuration brook accepts.
VALUES: dict[str, str] = {
    "cleanup.policy": "compact",
    "compression.type": "gzip",
    "compression.gzip.level": "5",
    "compression.lz4.level": "10",
    "compression.zstd.level": "7",
    "delete.retention.ms": "1234",
    "file.delete.delay.ms": "2345",
    "flush.messages": "10000",
    "flush.ms": "50000",
    "follower.replication.throttled.replicas": "*",
    "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "0:1",
    "local.retention.bytes": "100000",
    "local.retention.ms": "100000",
    "max.compaction.lag.ms": "900000",
    "max.message.bytes": "2000",
    "message.downconversion.enable": "false",
    "message.format.version": "2.8-IV1",
    "message.timestamp.after.max.ms": str(HOUR_MS),
    "message.timestamp.before.max.ms": str(HOUR_MS),
    "message.timestamp.difference.max.ms": str(HOUR_MS),
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.2",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "2",
    "preallocate": "true",
    "remote.log.copy.disable": "true",
    "remote.log.delete.on.disable": "true",
    "remote.storage.enable": "true",
    "retention.bytes": "2048",
    "retention.ms": "-1",
    "segment.bytes": "1024",
    "segment.index.bytes": "4096",
    "segment.jitter.ms": "10",
    "segment.ms": str(HOUR_MS),
    "unclean.leader.election.enable": "true",
}
# Keys whose topic needs companions to be valid, or to isolate the behaviour checked.
COMPANIONS: dict[str, dict[str, str]] = {
    "remote.storage.enable": {"retention.ms": "-1"},
    "retention.bytes": {"retention.ms": "-1", "segment.bytes": "1024"},
    "segment.bytes": {"retention.ms": "-1"},
    "cleanup.policy": {},
}


def topic_for(key: str) -> str:
    return "cfg-" + key.replace(".", "-")


def test_every_topic_config_has_a_non_default_value() -> None:
    assert set(VALUES) == set(TOPIC_CONFIGS)
    for key, value in VALUES.items():
        assert value != str(TOPIC_CONFIGS[key].default), key


def _producer(bootstrap: str, **conf: Any) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.timeout.ms": 10000,
                     **conf})


def _produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]], timestamp: int = 0,
             **conf: Any) -> list[KafkaError | None]:
    """Produce one batch per record; the delivery error (or None) of each."""
    p = _producer(bootstrap, **conf)
    out: list[KafkaError | None] = [None] * len(values)
    done = [False] * len(values)
    for i, (key, value) in enumerate(values):
        def report(err: KafkaError | None, _msg: Any, i: int = i) -> None:
            out[i] = err
            done[i] = True
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if timestamp:
            kwargs["timestamp"] = timestamp
        p.produce(topic, **kwargs)
        p.flush(TIMEOUT)
    assert all(done), f"deliveries to {topic} did not complete"
    return out


def _watermarks(c: Consumer, topic: str, partition: int = 0) -> tuple[int, int]:
    low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT,
                                        cached=False)
    return int(low), int(high)


def _describe(a: AdminClient, topics: list[str]) -> dict[str, dict[str, Any]]:
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    futures = a.describe_configs(resources, request_timeout=TIMEOUT)
    return {res.name: dict(fut.result(TIMEOUT)) for res, fut in futures.items()}


def _create_all(a: AdminClient) -> None:
    topics = [NewTopic(topic_for(k), 1, 1, config={**COMPANIONS.get(k, {}), k: v})
              for k, v in VALUES.items()]
    topics += [NewTopic("ctl-default", 1, 1)]
    futures = a.create_topics(topics, request_timeout=TIMEOUT, operation_timeout=TIMEOUT)
    for name, fut in futures.items():
        fut.result(TIMEOUT)  # every key brook accepts must be creatable with its value


def _commit_offsets(bootstrap: str, group: str, topic: str) -> None:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    finally:
        c.close()


def _wait_until_trimmed(c: Consumer, topic: str, timeout: float = 20.0) -> tuple[int, int]:
    """Poll until retention has removed records of ``topic`` (low watermark above 0)."""
    deadline = time.monotonic() + timeout
    while True:
        low, high = _watermarks(c, topic)
        if low > 0 or time.monotonic() > deadline:
            return low, high
        time.sleep(0.2)


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_topic_configs_survive_restart(broker_factory: Any, stop: str) -> None:
    broker = broker_factory(**BROKER)
    bootstrap = broker.bootstrap
    a = admin(bootstrap)
    _create_all(a)
    old = int(time.time() * 1000) - 20 * 60_000  # far past the broker-default retention
    rows = [(b"k%d" % i, b"v" * 100) for i in range(12)]
    for key in ("retention.ms", "cleanup.policy", "segment.bytes"):
        assert _produce(bootstrap, topic_for(key), rows, timestamp=old) == [None] * len(rows)
    assert _produce(bootstrap, "ctl-default", rows) == [None] * len(rows)
    _commit_offsets(bootstrap, "restart-matrix", "ctl-default")
    data_dir = Path(broker.data_dir)
    segments_before = len(list((data_dir / f"{topic_for('segment.bytes')}-0").glob("*.log")))

    broker.stop(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
    broker.start()
    a = admin(bootstrap)

    described = _describe(a, [topic_for(k) for k in VALUES])
    for key, value in VALUES.items():
        entry = described[topic_for(key)][key]
        assert (entry.value, entry.source) == (value, ConfigSource.DYNAMIC_TOPIC_CONFIG.value), key
    offsets = _describe(a, ["__consumer_offsets"])["__consumer_offsets"]
    assert offsets["cleanup.policy"].value == "compact"

    c = consumer(bootstrap)
    try:
        # The control topic follows the short broker default: a retention pass has run since
        # the restart (its records were produced before it)...
        assert _wait_until_trimmed(c, "ctl-default") == (12, 12)
        time.sleep(0.5)  # ...and a few more passes
        # ...yet old records are kept by retention.ms=-1 and by compaction (unique keys).
        assert _watermarks(c, topic_for("retention.ms")) == (0, 12)
        assert _watermarks(c, topic_for("cleanup.policy")) == (0, 12)
        # __consumer_offsets stays compacted: its records outlive the broker-default retention.
        low, high = _watermarks(c, "__consumer_offsets")
        assert high > 0 and low == 0
    finally:
        c.close()
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": "restart-matrix"})
    try:
        [committed] = group.committed([TopicPartition("ctl-default", 0)], timeout=TIMEOUT)
        assert committed.offset == 3
    finally:
        group.close()

    # segment.bytes=1024: new records roll new segments.
    large = [(b"k%d" % i, b"v" * 400) for i in range(12)]  # two batches fit a segment
    assert _produce(bootstrap, topic_for("segment.bytes"), large) == [None] * len(large)
    segments_after = len(list((data_dir / f"{topic_for('segment.bytes')}-0").glob("*.log")))
    assert segments_after >= segments_before + 5
    # retention.bytes=2048 (with 1024-byte segments): size retention trims the log.
    assert _produce(bootstrap, topic_for("retention.bytes"), large) == [None] * len(large)
    c = consumer(bootstrap)
    try:
        low, high = _wait_until_trimmed(c, topic_for("retention.bytes"))
        assert high == 12 and low > 0
    finally:
        c.close()
    # max.message.bytes=2000: an oversize record is refused, a small one accepted.
    big, small = _produce(bootstrap, topic_for("max.message.bytes"),
                          [(b"big", b"x" * 5000), (b"small", b"x" * 100)])
    assert big is not None and big.code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert small is None
    # message.timestamp.before.max.ms=1h: a two-hour-old CreateTime is refused.
    two_hours_ago = int(time.time() * 1000) - 2 * HOUR_MS
    [err] = _produce(bootstrap, topic_for("message.timestamp.before.max.ms"), [(b"k", b"v")],
                     timestamp=two_hours_ago)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP
    # message.timestamp.type=LogAppendTime: the broker's clock replaces the producer's.
    topic = topic_for("message.timestamp.type")
    assert _produce(bootstrap, topic, [(b"k", b"v")], timestamp=1_000) == [None]
    c = consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        msg = None
        deadline = time.monotonic() + TIMEOUT
        while msg is None and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                msg = m
        assert msg is not None
        kind, ts = msg.timestamp()
        assert kind == 2 and abs(ts - time.time() * 1000) < 60_000  # TIMESTAMP_LOG_APPEND_TIME
    finally:
        c.close()
    # min.insync.replicas=2 on a single broker: acks=all is refused, acks=1 accepted.
    topic = topic_for("min.insync.replicas")
    [err] = _produce(bootstrap, topic, [(b"k", b"v")], acks="all", retries=0)
    assert err is not None and err.code() in (KafkaError.NOT_ENOUGH_REPLICAS,
                                             KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND)
    assert _produce(bootstrap, topic, [(b"k", b"v")], acks=1, **{"enable.idempotence": False}) \
        == [None]
