"""A compacted Kafka topic used as a key-value log (Kafka Connect's ``KafkaBasedLog``).

The worker's configs, source offsets and statuses live in three such topics so that a
restarted worker, and every other worker of the group, finds them. The topic is created
compacted when missing; ``replay`` reads it from the beginning up to the high watermark seen at
the start, so the caller gets every write acknowledged before it started; ``tail`` then
follows, from exactly there, what other workers write (and this worker's own writes again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from brook.connect.api import ConnectException
from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
TIMEOUT = 30.0


class BackingLog(Protocol):
    def replay(self) -> Iterator[tuple[bytes, bytes | None]]: ...

    def send(self, key: bytes, value: bytes | None) -> None: ...

    def tail(self, handler: Callable[[bytes, bytes | None], None]) -> None: ...

    def close(self) -> None: ...


class MemoryLog:
    """An in-process log: what a standalone worker and unit tests use."""

    def __init__(self) -> None:
        self.entries: list[tuple[bytes, bytes | None]] = []

    def replay(self) -> Iterator[tuple[bytes, bytes | None]]:
        return iter(list(self.entries))

    def send(self, key: bytes, value: bytes | None) -> None:
        self.entries.append((key, value))

    def tail(self, handler: Callable[[bytes, bytes | None], None]) -> None:
        pass  # one process: every write was already applied by its writer

    def close(self) -> None:
        pass


def ensure_topic(admin: AdminClient, name: str, partitions: int, replication: int,
                 config: Mapping[str, str]) -> None:
    """Create ``name`` unless it exists; a concurrent creation by another worker is fine.

    A replication factor above the brokers the cluster has is lowered to their number, as the
    brokers do for ``__consumer_offsets``: Kafka Connect's default of 3 then gives a three-broker
    cluster fully replicated internal topics and still lets a single broker run a worker."""
    md = admin.list_topics(timeout=TIMEOUT)
    if name in md.topics and md.topics[name].error is None:
        return
    if replication > len(md.brokers) > 0:
        log.info("creating %s with replication factor %d: the cluster has %d brokers", name,
                 len(md.brokers), len(md.brokers))
        replication = len(md.brokers)
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=replication,
                  config=dict(config))],
        request_timeout=TIMEOUT, operation_timeout=TIMEOUT)
    try:
        futures[name].result(timeout=TIMEOUT)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ConnectException(f"could not create topic {name}: {exc}") from exc


class KafkaLog:
    """Key-value log over one compacted topic; writes are synchronous (acks=all, flushed)."""

    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""

    def __init__(self, client_conf: Mapping[str, Any], topic: str, partitions: int,
                 replication: int) -> None:
        self.topic = topic
        self.client_conf = dict(client_conf)
        admin = AdminClient({**self.client_conf, "socket.timeout.ms": 10000})
        ensure_topic(admin, topic, partitions, replication, {"cleanup.policy": "compact"})
        self.partitions = len(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions)
        self.producer = Producer({**self.client_conf, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 0})
        self._lock = threading.Lock()
        self._replayed_to: dict[int, int] = {}
        self._stopping = threading.Event()
        self._tail: threading.Thread | None = None

    def replay(self) -> Iterator[tuple[bytes, bytes | None]]:
        consumer = Consumer({**self.client_conf, "group.id": f"connect-log-{self.topic}",
                             "enable.auto.commit": False, "enable.partition.eof": False})
        try:
            ends: dict[int, int] = {}
            for p in range(self.partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p),
                                                           timeout=TIMEOUT)
                if high > low:
                    ends[p] = high
            self._replayed_to = dict(ends)
            if not ends:
                return
            consumer.assign([TopicPartition(self.topic, p, 0) for p in ends])
            deadline = self.clock.monotonic() + TIMEOUT
            positions = {p: 0 for p in ends}
            while any(positions[p] < ends[p] for p in ends):
                if self.clock.monotonic() > deadline:
                    raise ConnectException(f"timed out reading {self.topic} to its end")
                for msg in consumer.consume(num_messages=1000, timeout=0.2):
                    if msg.error() is not None:
                        continue
                    p, off = msg.partition() or 0, msg.offset() or 0
                    positions[p] = off + 1
                    if off < ends[p]:
                        yield (msg.key() or b"", msg.value())
                # A compacted tail can end below the watermark: ask where the consumer stands.
                for tp in consumer.position([TopicPartition(self.topic, p) for p in ends]):
                    if tp.offset >= 0:
                        positions[tp.partition] = max(positions[tp.partition], tp.offset)
        finally:
            consumer.close()

    def send(self, key: bytes, value: bytes | None) -> None:
        errors: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                errors.append(err)

        with self._lock:
            self.producer.produce(self.topic, key=key, value=value, on_delivery=delivered)
            if self.producer.flush(TIMEOUT) > 0:
                raise ConnectException(f"timed out writing to {self.topic}")
        if errors:
            raise ConnectException(f"write to {self.topic} failed: {errors[0]}")

    def tail(self, handler: Callable[[bytes, bytes | None], None]) -> None:
        """Call ``handler`` on a thread for every record after the replayed ones, until closed."""
        start = [TopicPartition(self.topic, p, self._replayed_to.get(p, OFFSET_BEGINNING))
                 for p in range(self.partitions)]
        self._tail = threading.Thread(target=self._follow, args=(start, handler),
                                      name=f"tail-{self.topic}", daemon=True)
        self._tail.start()

    def _follow(self, start: list[TopicPartition],
                handler: Callable[[bytes, bytes | None], None]) -> None:
        consumer = Consumer({**self.client_conf, "group.id": f"connect-log-{self.topic}",
                             "enable.auto.commit": False, "enable.partition.eof": False,
                             "auto.offset.reset": "earliest"})
        try:
            consumer.assign(start)
            while not self._stopping.is_set():
                for msg in consumer.consume(num_messages=500, timeout=0.2):
                    if msg.error() is None:
                        try:
                            handler(msg.key() or b"", msg.value())
                        except Exception:
                            log.exception("could not apply a record of %s", self.topic)
        finally:
            consumer.close()

    def close(self) -> None:
        self._stopping.set()
        if self._tail is not None:
            self._tail.join(5)
        self.producer.flush(TIMEOUT)
