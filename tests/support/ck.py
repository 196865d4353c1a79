"""confluent-kafka helpers: admin, produce with delivery reports, assign-based consumption."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 20.0
_names = itertools.count()


def unique_topic(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def admin(bootstrap: str, **conf: Any) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, **conf})


def create_topic(bootstrap: str, name: str, partitions: int = 1,
                 config: dict[str, str] | None = None) -> None:
    a = admin(bootstrap)  # must outlive the future: a destroyed client never completes it
    futures = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        request_timeout=TIMEOUT, operation_timeout=TIMEOUT)
    futures[name].result(timeout=TIMEOUT)


@dataclass
class Rec:
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes]] | None = None
    timestamp: int = 0
    partition: int = -1


@dataclass
class Delivered:
    reports: list[tuple[int, int, int | None]] = field(default_factory=list)  # (i, partition, offset)
    errors: list[tuple[int, KafkaError]] = field(default_factory=list)


def produce(bootstrap: str, topic: str, records: Iterable[Rec], timeout: float = 30.0,
            **conf: Any) -> list[tuple[int, int]]:
    """Produce every record; return (partition, offset) per record, in input order."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    out = Delivered()
    n = 0
    for n, rec in enumerate(records, 1):
        kwargs: dict[str, Any] = {"key": rec.key, "value": rec.value}
        if rec.headers is not None:
            kwargs["headers"] = rec.headers
        if rec.timestamp:
            kwargs["timestamp"] = rec.timestamp
        if rec.partition >= 0:
            kwargs["partition"] = rec.partition

        def on_delivery(err: KafkaError | None, msg: Message, i: int = n - 1) -> None:
            if err is not None:
                out.errors.append((i, err))
            else:
                out.reports.append((i, msg.partition(), msg.offset()))

        producer.produce(topic, on_delivery=on_delivery, **kwargs)
        producer.poll(0)
    remaining = producer.flush(timeout)
    assert remaining == 0, f"{remaining} records not delivered within {timeout}s"
    assert not out.errors, f"delivery errors: {out.errors[:5]}"
    assert len(out.reports) == n
    return [(p, o) for _, p, o in sorted(out.reports)]


def consumer(bootstrap: str, **conf: Any) -> Consumer:
    """A group-less consumer: ``group.id`` is required by librdkafka, but never committed."""
    base = {
        "bootstrap.servers": bootstrap,
        "group.id": "brook-e2e-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    }
    return Consumer({**base, **conf})


def consume(bootstrap: str, topic: str, partition: int = 0, offset: int = 0,
            count: int | None = None, timeout: float = TIMEOUT, **conf: Any) -> list[Message]:
    """Assign one partition at ``offset``; read ``count`` records, or up to the first EOF."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        return drain(c, count, timeout)
    finally:
        c.close()


def drain(c: Consumer, count: int | None, timeout: float) -> list[Message]:
    out: list[Message] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                if count is None or len(out) >= count:
                    return out
                continue
            raise KafkaException(err)
        out.append(msg)
        if count is not None and len(out) >= count:
            return out
    raise TimeoutError(f"read {len(out)} of {count if count is not None else 'EOF'} records "
                       f"within {timeout}s")


def wait_event(c: Consumer, timeout: float = TIMEOUT) -> Message:
    """The next message or error event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is not None:
            return msg
    raise TimeoutError(f"no consumer event within {timeout}s")
