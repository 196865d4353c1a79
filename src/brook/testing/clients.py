"""Small confluent-kafka helpers shared by the fault tests and the kill-loop workload."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

__all__ = ["commit", "committed", "create_topic", "read_partition", "topic_names", "watermarks"]

TIMEOUT = 30.0


def admin(bootstrap: str) -> Any:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000})


def create_topic(bootstrap: str, name: str, partitions: int = 1,
                 config: dict[str, str] | None = None) -> None:
    client = admin(bootstrap)  # must outlive the future
    futures = client.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        request_timeout=TIMEOUT, operation_timeout=TIMEOUT)
    futures[name].result(timeout=TIMEOUT)


def topic_names(bootstrap: str) -> dict[str, int]:
    """{topic: partition count} of every topic without an error, internal ones included."""
    md = admin(bootstrap).list_topics(timeout=TIMEOUT)
    return {name: len(t.partitions) for name, t in md.topics.items() if t.error is None}


def _consumer(bootstrap: str, group: str = "brook-testing-reader", **conf: Any) -> Any:
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "enable.auto.offset.store": False, "enable.partition.eof": True,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 50, **conf,
    })


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    c = _consumer(bootstrap)
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)
        return int(low), int(high)
    finally:
        c.close()


def read_partition(bootstrap: str, topic: str, partition: int,
                   timeout: float = TIMEOUT) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record from the log start to the high watermark."""
    low, high = watermarks(bootstrap, topic, partition)
    out: list[tuple[int, bytes | None, bytes | None]] = []
    if high <= low:
        return out
    c = _consumer(bootstrap)
    try:
        c.assign([TopicPartition(topic, partition, low)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if out and out[-1][0] >= high - 1:
                        return out
                    continue
                raise KafkaException(err)
            out.append((msg.offset(), msg.key(), msg.value()))
            if msg.offset() >= high - 1:
                return out
        raise TimeoutError(f"read {len(out)} records of {topic}-{partition} "
                           f"[{low}, {high}) within {timeout}s")
    finally:
        c.close()


def committed(bootstrap: str, group: str, partitions: list[tuple[str, int]]) -> dict[
        tuple[str, int], int]:
    """The group's committed offsets (FindCoordinator + OffsetFetch); -1001 when none."""
    c = _consumer(bootstrap, group)
    try:
        got = c.committed([TopicPartition(t, p) for t, p in partitions], timeout=TIMEOUT)
        return {(tp.topic, tp.partition): int(tp.offset) for tp in got}
    finally:
        c.close()


_COORDINATOR_RETRIABLE = frozenset({
    KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._WAIT_COORD,
})


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for a group without joining it (a simple consumer's commit). A
    coordinator still loading or just moved answers with a retriable error, which librdkafka's
    synchronous commit hands back instead of retrying: asked again, for up to 30 s."""
    c = _consumer(bootstrap, group)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                         asynchronous=False)
                return
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if (err is None or err.code() not in _COORDINATOR_RETRIABLE
                        or time.monotonic() > deadline):
                    raise
                time.sleep(0.2)
    finally:
        c.close()
