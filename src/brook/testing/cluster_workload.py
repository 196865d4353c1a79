"""A workload that keeps running while a cluster is failed around it, and records what it saw.

Idempotent ``acks=all`` producers (confluent-kafka) write ``b"<producer>:<sequence>"`` records
to random partitions of a replicated topic (RF 3, ``min.insync.replicas`` 2 by default);
consumers in one group read them and commit the offsets they reached. Everything lands in a
:class:`~brook.testing.history.History`: each acknowledgement (partition and offset from the
delivery report), each record read, each commit acknowledged, and each committed offset
fetched back (with the floor taken when the fetch was sent, since consumers commit
concurrently). ``finish`` stops the clients, reads every partition from its start to the
high watermark and hands the history over for :meth:`History.violations`.

Producers and consumers run on threads of their own, so the fault schedule can block (a broker
start waits out a session timeout) while records keep flowing; each thread draws its choices
(partition of each record, when to commit) from its own generator seeded from the run's seed.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from brook.env import Rng
from brook.testing.clients import read_partition
from brook.testing.history import History, record_value

__all__ = ["ClusterWorkload", "WorkloadConfig"]


@dataclass(frozen=True)
class WorkloadConfig:
    topic: str = "faults"
    partitions: int = 6
    replication_factor: int = 3
    min_insync_replicas: int = 2
    producers: int = 2
    consumers: int = 2
    group: str = "faults-group"
    batch: int = 5
    """Records each producer queues per round."""
    round_pause_s: float = 0.05
    """Between rounds: a steady trickle, not a flood, on a shared two-core machine."""
    max_outstanding: int = 500
    """A producer queues no more while this many of its records await acknowledgement."""
    message_timeout_ms: int = 180_000
    """How long a producer retries a record: longer than any fault a schedule holds."""
    commit_chance: float = 0.3
    """Chance that a consumer commits its positions after a poll."""
    fetch_committed_every_s: float = 2.0


def _producer(bootstrap: str, config: WorkloadConfig, fatal: list[str]) -> Any:
    def on_error(err: Any) -> None:
        if err.fatal():
            fatal.append(f"fatal producer error: {err}")

    return Producer({
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 5, "max.in.flight.requests.per.connection": 5,
        "message.timeout.ms": config.message_timeout_ms, "retry.backoff.ms": 50,
        "retry.backoff.max.ms": 500, "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 5000,
        "error_cb": on_error, "log_level": 2,
    })


def _consumer(bootstrap: str, group: str, **extra: Any) -> Any:
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100, "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1000, "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500, "socket.timeout.ms": 10_000, "log_level": 2,
        **extra,
    })


class ClusterWorkload:
    """``start`` creates the topic and the client threads; ``acks`` per producer show
    progress; ``finish`` stops, reads everything back and returns the history."""

    def __init__(self, bootstrap: str, seed: int, config: WorkloadConfig = WorkloadConfig(),
                 log: Callable[[str], None] = print) -> None:
        self.bootstrap = bootstrap
        self.seed = seed
        self.config = config
        self.log = log
        self.history = History()
        self.acks = [0] * config.producers
        self.failed: list[str] = []
        self.fatal: list[str] = []
        self.errors: list[str] = []
        """Unexpected exceptions in a client thread (the run is void if any)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producers: list[Any] = []

    @property
    def partitions(self) -> list[tuple[str, int]]:
        return [(self.config.topic, p) for p in range(self.config.partitions)]

    # -- running -------------------------------------------------------------------------------

    def create_topic(self) -> None:
        c = self.config
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(c.topic, c.partitions, c.replication_factor, config={
                "min.insync.replicas": str(c.min_insync_replicas), "retention.ms": "-1",
                "unclean.leader.election.enable": "false"})],
            request_timeout=30, operation_timeout=30)
        futures[c.topic].result(timeout=60)

    def start(self) -> None:
        self._producers = [_producer(self.bootstrap, self.config, self.fatal)
                           for _ in range(self.config.producers)]
        self._spawn("producers", self._produce_loop)
        for i in range(self.config.consumers):
            self._spawn(f"consumer-{i}", functools.partial(self._consume_loop, i))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except Exception as exc:  # recorded: a test must not pass on a dead thread
                self.errors.append(f"{name}: {exc!r}")
                self.log(f"workload thread {name} died: {exc!r}")
        t = threading.Thread(target=run, name=f"workload-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def acked(self) -> list[int]:
        with self._lock:
            return list(self.acks)

    def wait_progress(self, timeout: float) -> list[int]:
        """Wait until every producer has a new acknowledgement; the producers that got none
        within ``timeout`` (empty when all progressed)."""
        before = self.acked()
        deadline = time.monotonic() + timeout
        while True:
            idle = [i for i, (a, b) in enumerate(zip(self.acked(), before, strict=True)) if a == b]
            if not idle or time.monotonic() > deadline:
                return idle
            time.sleep(0.05)

    def wait_consuming(self, timeout: float) -> bool:
        """Wait until the consumers have joined and read something (a group's first join
        waits for the offsets topic and the initial rebalance delay)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.history.observations > 0:
                    return True
            time.sleep(0.1)
        return False

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            with self._lock:
                self.failed.append(str(err))
            return
        value = msg.value()
        with self._lock:
            self.history.ack(value, (msg.topic(), msg.partition()), msg.offset())
            self.acks[int(value.partition(b":")[0])] += 1

    def _produce_loop(self) -> None:
        c = self.config
        rng = Rng(self.seed * 1_000 + 1)
        sequences = [0] * c.producers
        while not self._stop.is_set():
            for i, producer in enumerate(self._producers):
                if len(producer) < c.max_outstanding:
                    for _ in range(c.batch):
                        producer.produce(c.topic, value=record_value(i, sequences[i]),
                                         partition=rng.randint(0, c.partitions - 1),
                                         on_delivery=self._on_delivery)
                        sequences[i] += 1
                producer.poll(0)
            time.sleep(c.round_pause_s)

    def _consume_loop(self, index: int) -> None:
        c = self.config
        rng = Rng(self.seed * 1_000 + 100 + index)
        positions: dict[int, int] = {}

        def forget(_consumer: Any, partitions: list[Any]) -> None:
            for tp in partitions:  # no longer ours: never commit a stale position for it
                positions.pop(tp.partition, None)

        consumer = _consumer(self.bootstrap, c.group)
        consumer.subscribe([c.topic], on_revoke=forget, on_lost=forget)
        next_fetch = time.monotonic() + c.fetch_committed_every_s
        try:
            while not self._stop.is_set():
                self._consume_once(consumer, positions, f"consumer {index}")
                if positions and rng.random() < c.commit_chance:
                    self._commit(consumer, positions, f"consumer {index}")
                if time.monotonic() >= next_fetch:
                    self.check_committed(consumer, f"consumer {index}")
                    next_fetch = time.monotonic() + c.fetch_committed_every_s
            self._consume_once(consumer, positions, f"consumer {index} draining")
            self._commit(consumer, positions, f"consumer {index} closing")
        finally:
            consumer.close()

    def _consume_once(self, consumer: Any, positions: dict[int, int], who: str) -> None:
        for msg in consumer.consume(500, 0.1):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self.log(f"{who}: {err}")
                continue
            with self._lock:
                self.history.observe((msg.topic(), msg.partition()), msg.offset(), msg.value(),
                                     who)
            positions[msg.partition()] = msg.offset() + 1

    def _commit(self, consumer: Any, positions: dict[int, int], who: str) -> None:
        if not positions:
            return
        offsets = [TopicPartition(self.config.topic, p, o) for p, o in positions.items()]
        try:
            result = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            self.log(f"{who}: commit failed: {exc}")
            return
        with self._lock:
            for tp in result or []:
                if tp.error is None:
                    self.history.commit_acked((tp.topic, tp.partition), tp.offset)

    def check_committed(self, consumer: Any, who: str) -> bool:
        """Fetch the group's committed offsets and record them; False if the fetch failed."""
        with self._lock:
            floors = {tp: self.history.commit_floor(tp) for tp in self.partitions}
        try:
            got = consumer.committed([TopicPartition(t, p) for t, p in self.partitions],
                                     timeout=10)
        except KafkaException as exc:
            self.log(f"{who}: fetching committed offsets failed: {exc}")
            return False
        with self._lock:
            for tp in got:
                key = (tp.topic, tp.partition)
                if tp.error is not None:
                    if who == "final":  # every partition's last commit must be checked
                        self.history.fatal_errors.append(
                            f"{key[0]}-{key[1]}: final committed offset fetch: {tp.error}")
                    continue
                if tp.offset >= 0 or floors[key] >= 0:
                    self.history.commit_seen(key, int(tp.offset), f"{who} fetch", floors[key])
        return True

    # -- the end -------------------------------------------------------------------------------

    def abort(self) -> None:
        """Stop the clients and drop what is outstanding (the run is being given up)."""
        self._stop.set()
        for t in self._threads:
            t.join(60)
        for producer in self._producers:
            producer.purge()
            producer.flush(1)

    def finish(self, flush_s: float = 120.0) -> History:
        """Stop producing, wait for every outstanding record's outcome, stop the consumers,
        check the committed offsets once more and read every partition back."""
        self.stop(flush_s)
        return self.read_back()

    def stop(self, flush_s: float = 120.0) -> None:
        """The first half of :meth:`finish`: stop the clients, wait for every outstanding
        record's outcome, fetch the committed offsets a last time."""
        self._stop.set()
        for t in self._threads:
            t.join(60)
        deadline = time.monotonic() + flush_s
        for producer in self._producers:
            left = producer.flush(max(1.0, deadline - time.monotonic()))
            if left:
                self.failed.append(f"{left} records with no outcome after {flush_s}s")
        checker = _consumer(self.bootstrap, self.config.group)
        try:
            for _ in range(10):
                if self.check_committed(checker, "final"):
                    break
                time.sleep(1)
            else:  # "committed offsets are never lost" would go unchecked at the end
                self.history.fatal_errors.append(
                    "the group's committed offsets could not be fetched after the run")
        finally:
            checker.close()

    def read_back(self) -> History:
        """The second half of :meth:`finish`: read every partition from its start to its high
        watermark into the history, and return it."""
        for topic, p in self.partitions:
            records = [(o, v) for o, _, v in read_partition(self.bootstrap, topic, p, timeout=90)
                       if v is not None]
            self.history.final_read((topic, p), records)
        self.history.unacknowledged = len(self.failed)
        self.history.fatal_errors = list(self.fatal) + list(self.errors)
        if self.failed:
            self.log(f"{len(self.failed)} records not acknowledged, e.g. {self.failed[:3]}")
        return self.history
