"""Metadata that must outlive the broker-default retention and refuse what would break it.

* The metadata log is not a partition log: under a one-second ``log.retention.ms`` nothing of it
  is deleted, and after a restart every topic is there with its id, and group offsets work.
* A topic name with a line break is refused by CreateTopics and by Metadata auto-creation
  (it would break the line-based checkpoint files); the broker restarts normally.
* ``__consumer_offsets`` cannot be deleted.
"""

from __future__ import annotations

import signal
import struct
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition

from brook.protocol.errors import ErrorCode
from brook.protocol.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from brook.protocol.messages.metadata import MetadataRequest, MetadataResponse
from tests.support import wire
from tests.support.ck import TIMEOUT, admin, create_topic

pytestmark = pytest.mark.timeout(180)

BROKER = {"log.retention.ms": "1000", "log.retention.check.interval.ms": "100",
          "offsets.topic.num.partitions": "2"}


def _call(port: int, api_key: int, version: int, body: bytes) -> memoryview:
    with wire.connect(port) as s:
        s.sendall(wire.request(api_key, version, 7, body))
        frame = wire.read_frame(s, 10.0)
    assert frame is not None
    (correlation,) = struct.unpack_from(">i", frame, 4)
    assert correlation == 7
    return memoryview(frame)[8:]


def create_raw(port: int, names: list[str]) -> dict[str, int]:
    req = CreateTopicsRequest(
        topics=[CreateTopicsRequest.CreatableTopic(name=n, num_partitions=1,
                                                   replication_factor=1) for n in names],
        timeout_ms=10000,
    )
    resp, _ = CreateTopicsResponse.decode(_call(port, 19, 4, req.to_bytes(4)), 0, 4)
    return {t.name: t.error_code for t in resp.topics}


def metadata_raw(port: int, names: list[str]) -> dict[str, int]:
    req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=n) for n in names],
                          allow_auto_topic_creation=True)
    resp, _ = MetadataResponse.decode(_call(port, 3, 4, req.to_bytes(4)), 0, 4)
    return {t.name: t.error_code for t in resp.topics}


def _ids(bootstrap: str, names: list[str]) -> dict[str, str]:
    a = admin(bootstrap)  # must outlive its futures
    futures = a.describe_topics(TopicCollection(names), request_timeout=TIMEOUT)
    return {n: str(f.result(TIMEOUT).topic_id) for n, f in futures.items()}


def _committed(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [tp] = c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)
        return int(tp.offset)
    finally:
        c.close()


def test_metadata_names_and_internal_topics_across_restarts(broker_factory: Any) -> None:
    broker = broker_factory(**BROKER)
    port = broker.port
    create_topic(broker.bootstrap, "kept")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "g",
                  "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition("kept", 0, 5)], asynchronous=False)
    c.close()
    before = _ids(broker.bootstrap, ["kept", "__consumer_offsets"])

    # Names with a line break: refused by both paths, nothing created.
    codes = create_raw(port, ["bad\n", "also-bad\r\n", "fine"])
    assert codes == {"bad\n": ErrorCode.INVALID_TOPIC_EXCEPTION,
                     "also-bad\r\n": ErrorCode.INVALID_TOPIC_EXCEPTION, "fine": 0}
    assert metadata_raw(port, ["auto\n"]) == {"auto\n": ErrorCode.INVALID_TOPIC_EXCEPTION}
    # The metadata log's name is not a topic name a client may take.
    assert create_raw(port, ["__cluster_metadata"]) == {
        "__cluster_metadata": ErrorCode.TOPIC_AUTHORIZATION_FAILED}
    assert metadata_raw(port, ["__cluster_metadata"]) == {
        "__cluster_metadata": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    topics = admin(broker.bootstrap).list_topics(timeout=TIMEOUT).topics
    assert not [t for t in topics if "\n" in t or "\r" in t]

    # __consumer_offsets cannot be deleted.
    a = admin(broker.bootstrap)
    future = a.delete_topics(["__consumer_offsets"], request_timeout=TIMEOUT)["__consumer_offsets"]
    with pytest.raises(KafkaException) as refused:
        future.result(TIMEOUT)
    assert refused.value.args[0].code() == ErrorCode.INVALID_TOPIC_EXCEPTION

    # Many retention passes past the broker default, with no metadata change meanwhile.
    time.sleep(2.5)
    for stop in (signal.SIGTERM, signal.SIGKILL):
        broker.stop(stop)
        broker.start()
        assert _ids(broker.bootstrap, ["kept", "__consumer_offsets"]) == before
        assert _committed(broker.bootstrap, "g", "kept") == 5
        time.sleep(1.5)
    assert "fine" in admin(broker.bootstrap).list_topics(timeout=TIMEOUT).topics
