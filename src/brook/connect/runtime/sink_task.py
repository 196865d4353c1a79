"""``WorkerSinkTask``: consume, convert, ``put``, and commit only what the sink made durable.

As in Kafka Connect, a sink task's consumer is a member of the consumer group
``connect-<connector>``: it subscribes to ``topics`` (or to the topics ``topics.regex`` matches,
re-evaluated as topics come and go) and the group's assignor splits the partitions between the
connector's tasks. Lag tools therefore see who owns each partition, and the broker refuses to
reset the group's offsets under a running connector. Eager and cooperative rebalances are both
handled: before a partition is given up, its offsets are committed the way Kafka's
``WorkerSinkTask`` does - ``pre_commit`` (which flushes) and a synchronous commit - and then the
task ``close``s it; a partition that was *lost* is closed without a commit.

Committed offsets are what the sink returns from ``pre_commit`` - for the S3 sink, the end of
the last object written - so after a crash, a rebalance or a move to another worker, the new
owner resumes where the store's contents end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KafkaTopicPartition

from brook.connect.api import (
    ErrantRecordReporter,
    Headers,
    RetriableException,
    SinkRecord,
    SinkTask,
    TopicPartition,
)
from brook.connect.runtime import log_context
from brook.connect.runtime.connector_config import client_overrides
from brook.connect.runtime.errors import DeadLetterQueueReporter, ErrorHandler, Stage
from brook.connect.runtime.worker_task import WorkerTask

log = logging.getLogger(__name__)
METADATA_REFRESH_S = 5.0
_TIMESTAMP_TYPES = {1: "CreateTime", 2: "LogAppendTime"}


class _Context:
    """The ``SinkTaskContext`` handed to the connector's task."""

    def __init__(self, owner: WorkerSinkTask) -> None:
        self.owner = owner

    def configs(self) -> Mapping[str, str]:
        return self.owner.task_props

    def assignment(self) -> set[TopicPartition]:
        return set(self.owner.assignment)

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.owner.rewinds.update(offsets)

    def request_commit(self) -> None:
        self.owner.commit_requested = True

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return None


def _header_value(value: bytes | None) -> Any:
    if value is None:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


class WorkerSinkTask(WorkerTask):
    def __init__(self, *args: Any, task_class: type[SinkTask], num_tasks: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.task_class = task_class
        self.num_tasks = num_tasks
        self.assignment: list[TopicPartition] = []
        self.current: dict[TopicPartition, int] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.rewinds: dict[TopicPartition, int] = {}
        self.commit_requested = False
        self.consumer: Any = None
        self.cooperative = False
        self.client_error: KafkaError | None = None
        self.dlq: DeadLetterQueueReporter | None = None

    def _consumer_conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = dict(self.worker.client_conf("consumer"))
        if "consumer.client.id" not in self.worker.originals:
            # Kafka Connect names a task's consumer so; consumer.[override.]client.id wins.
            conf["client.id"] = f"connector-consumer-{self.connector}-{self.task_id}"
        conf.update(client_overrides(self.connector_config, "consumer.override."))
        conf.update({"group.id": f"connect-{self.connector}", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "enable.partition.eof": False,
                     "error_cb": self._on_client_error})
        conf.setdefault("auto.offset.reset", "earliest")
        return conf

    def _on_client_error(self, err: KafkaError) -> None:
        """librdkafka reports a failed SASL handshake only here (and retries forever); Kafka's
        consumer throws it from ``poll``, which fails the task. So does this one."""
        if self.client_error is None and (err.fatal() or
                                          err.code() == KafkaError._AUTHENTICATION):
            self.client_error = err

    def _subscription(self) -> list[str]:
        """The topics to subscribe to: ``topics``, or the existing topics ``topics.regex``
        matches in full (Java's ``Pattern.matcher().matches()``, which Python's ``fullmatch``
        follows; librdkafka's own regex dialect is not Java's, so it is not used)."""
        regex = self.connector_config.get("topics.regex") or ""
        if not regex:
            return sorted(set(self.connector_config.get("topics") or []))
        pattern = re.compile(regex)
        md = self.consumer.list_topics(timeout=10)
        return sorted(t for t in md.topics if pattern.fullmatch(t))

    def _subscribe(self, task: SinkTask, topics: list[str]) -> None:
        def on_assign(consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
            self._on_assigned(task, partitions)

        def on_revoke(consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
            self._on_revoked(task, partitions, lost=False)

        def on_lost(consumer: Any, partitions: list[KafkaTopicPartition]) -> None:
            self._on_revoked(task, partitions, lost=True)

        if topics:
            self.consumer.subscribe(topics, on_assign=on_assign, on_revoke=on_revoke,
                                    on_lost=on_lost)
        else:
            self.consumer.unsubscribe()  # revokes (and commits) whatever was owned

    def _on_assigned(self, task: SinkTask, partitions: list[KafkaTopicPartition]) -> None:
        """Runs inside ``consume`` on the task's thread: take the partitions, then ``open``.

        Reading starts from the group's committed offset (else ``auto.offset.reset``). The
        partitions are assigned here rather than after the callback so that a paused task can
        pause them before any record of theirs is fetched.
        """
        new = [TopicPartition(p.topic, p.partition) for p in partitions]
        if self.cooperative:
            self.consumer.incremental_assign(partitions)
            self.assignment.extend(tp for tp in new if tp not in self.assignment)
        else:
            self.consumer.assign(partitions)
            self.assignment = list(new)
        if self.paused.is_set() and partitions:
            self.consumer.pause(partitions)
        if new:
            task.open(new)

    def _on_revoked(self, task: SinkTask, partitions: list[KafkaTopicPartition],
                    lost: bool) -> None:
        """Kafka's ``closePartitions``: commit what the sink made durable for the partitions
        being given up (not when they were lost: another member may own them already), then
        ``close`` them and forget their offsets."""
        gone = [TopicPartition(p.topic, p.partition) for p in partitions]
        gone = [tp for tp in gone if tp in self.assignment]
        try:
            if gone and not lost:
                self._commit(task, only=gone)
            if gone:
                task.close(gone)
        finally:
            for tp in gone:
                self.assignment.remove(tp)
                self.current.pop(tp, None)
                self.committed.pop(tp, None)
                self.rewinds.pop(tp, None)
            if self.cooperative:
                self.consumer.incremental_unassign(partitions)
            else:
                self.consumer.unassign()

    def execute(self) -> None:
        key_conv, value_conv = self.converters()
        cfg = self.connector_config
        if cfg.get("errors.deadletterqueue.topic.name"):
            self.dlq = DeadLetterQueueReporter(
                self.worker.client_conf("producer"), cfg["errors.deadletterqueue.topic.name"],
                int(cfg.get("errors.deadletterqueue.topic.replication.factor", -1)),
                self.connector, self.task_id,
                bool(cfg.get("errors.deadletterqueue.context.headers.enable")))
        handler = ErrorHandler(cfg, self.stopping, self.dlq, self.metrics)
        task = self.task_class()
        task.initialize(_Context(self))
        task.start(self.task_props)
        conf = self._consumer_conf()
        # librdkafka reports incremental (cooperative) rebalances only through its assignors.
        self.cooperative = (str(conf.get("group.protocol", "")).lower() == "consumer" or
                            "cooperative" in str(conf.get("partition.assignment.strategy", "")))
        self.consumer = Consumer(conf)
        interval = int(self.worker.get("offset.flush.interval.ms")) / 1000
        next_commit = self.clock.monotonic() + interval
        next_refresh = 0.0
        was_paused = False
        topics: list[str] | None = None
        try:
            while not self.stopping.is_set():
                now = self.clock.monotonic()
                if now >= next_refresh:
                    wanted = self._subscription()
                    if wanted != topics:
                        self._subscribe(task, wanted)
                        topics = wanted
                    next_refresh = (now + METADATA_REFRESH_S
                                    if self.connector_config.get("topics.regex") else float("inf"))
                if self.paused.is_set() != was_paused:
                    was_paused = self.paused.is_set()
                    tps = [KafkaTopicPartition(tp.topic, tp.partition) for tp in self.assignment]
                    (self.consumer.pause if was_paused else self.consumer.resume)(tps)
                self._apply_rewinds()
                batch = self.consumer.consume(num_messages=500, timeout=0.2)
                if self.client_error is not None:
                    raise RuntimeError(f"consumer failed: {self.client_error.str()}")
                owned = set(self.assignment)  # as Kafka: nothing of a partition revoked meanwhile
                batch = [m for m in batch if m.error() is not None or
                         TopicPartition(str(m.topic()), m.partition() or 0) in owned]
                records = self._convert(batch, key_conv, value_conv, handler)
                # Empty batches too, as Kafka's WorkerSinkTask does: time-based work in put().
                self._put(task, records, handler)
                if self.commit_requested or self.clock.monotonic() >= next_commit:
                    self.commit_requested = False
                    self._commit(task)
                    next_commit = self.clock.monotonic() + interval
            self._commit(task)
        finally:
            try:
                task.close(list(self.assignment))
                task.stop()
            finally:
                if self.dlq is not None:
                    self.dlq.close()
                self.assignment = []  # closed above: leaving the group must not close again
                self.consumer.close()

    def _apply_rewinds(self) -> None:
        if not self.rewinds:
            return
        for tp, offset in self.rewinds.items():
            self.consumer.seek(KafkaTopicPartition(tp.topic, tp.partition, offset))
            self.current[tp] = offset
        self.rewinds.clear()

    def _convert(self, batch: list[Message], key_conv: Any, value_conv: Any,
                 handler: ErrorHandler) -> list[SinkRecord]:
        records: list[SinkRecord] = []
        self.metrics.records_read(sum(1 for msg in batch if msg.error() is None))
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.fatal() or err.code() == KafkaError._AUTHENTICATION:
                    raise RuntimeError(f"consumer failed: {err}")
                log.warning("consumer error: %s", err)
                continue
            topic, partition, offset = str(msg.topic()), msg.partition() or 0, msg.offset() or 0
            self.current[TopicPartition(topic, partition)] = offset + 1
            self.record_active_topic(topic)
            key: Any = handler.execute(partial(key_conv.to_connect_data, topic, msg.key()),
                                       Stage.KEY_CONVERTER, type(key_conv).__name__, msg)
            if key is ErrorHandler.SKIP:
                continue
            value: Any = handler.execute(partial(value_conv.to_connect_data, topic, msg.value()),
                                         Stage.VALUE_CONVERTER, type(value_conv).__name__, msg)
            if value is ErrorHandler.SKIP:
                continue
            ts_type, ts = msg.timestamp()
            headers = Headers()
            for hk, hv in cast(list[tuple[str, Any]], msg.headers() or []):
                headers.add(hk, _header_value(hv.encode() if isinstance(hv, str) else hv))
            record = self.chain.apply(SinkRecord(
                topic=topic, kafka_partition=partition, key=key[1], value=value[1],
                timestamp=ts if ts_type in _TIMESTAMP_TYPES else None, headers=headers,
                key_schema=key[0], value_schema=value[0], kafka_offset=offset,
                timestamp_type=_TIMESTAMP_TYPES.get(ts_type, "NoTimestampType")), handler, msg)
            if record is not None:
                records.append(record)
        return records

    def _put(self, task: SinkTask, records: list[SinkRecord], handler: ErrorHandler) -> None:
        """``put`` the batch; a ``RetriableException`` is retried (with backoff) until stopped."""
        delay = 0.3
        while True:
            try:
                start = self.clock.monotonic()
                task.put(records)
                self.metrics.batch(len(records), (self.clock.monotonic() - start) * 1000)
                self.metrics.records_written(len(records))
                return
            except RetriableException:
                log.warning("%s: put is retriable, retrying in %.1fs", self.name, delay)
                if self.stopping.wait(delay):
                    raise
                if self.rewinds:
                    return  # the task asked to re-read: the batch comes back from the consumer
                delay = min(delay * 2, handler.retry_delay_max_ms / 1000)

    @log_context.offsets
    def _commit(self, task: SinkTask, only: Sequence[TopicPartition] | None = None) -> None:
        """``pre_commit`` the current offsets (of ``only`` these partitions, when they are being
        revoked) and commit synchronously what it returns for partitions this task owns.

        A failed commit (a rebalance in progress, a fenced generation) is logged and the task
        carries on, as in Kafka: the offsets are committed again next time, or the partition's
        next owner re-reads from the last committed offset.
        """
        if self.dlq is not None:
            self.dlq.flush()
        current = dict(self.current) if only is None else {
            tp: off for tp, off in self.current.items() if tp in only}
        offsets = task.pre_commit(current)
        owned = set(self.assignment)
        todo = {tp: off for tp, off in offsets.items()
                if tp in owned and off >= 0 and self.committed.get(tp) != off}
        if not todo:
            self.metrics.commit_skipped()
            return
        start = self.clock.monotonic()
        try:
            self.consumer.commit(offsets=[KafkaTopicPartition(tp.topic, tp.partition, off)
                                          for tp, off in todo.items()], asynchronous=False)
        except KafkaException as exc:
            self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=False)
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if err is not None and (err.fatal() or err.code() == KafkaError._AUTHENTICATION):
                raise
            log.warning("%s: commit of offsets %s failed: %s", self.name, todo, exc)
            return
        self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=True)
        self.committed.update(todo)
