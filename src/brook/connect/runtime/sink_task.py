"""``WorkerSinkTask``: consume, convert, ``put``, and commit only what the sink made durable.

Offsets are committed to the consumer group ``connect-<connector>`` as Kafka Connect does, but
the task's consumer takes its partitions with ``assign`` (the sorted partitions of its topics,
dealt round-robin over ``tasks.max``) rather than joining the group: which worker runs a task is
decided by the worker group (``herder``), and a task's partitions stay the same wherever it runs.
Committed offsets are what the sink returns from ``pre_commit`` - for the S3 sink, the end of
the last object written - so after a crash, or when the task moves to another worker, it
resumes where the store's contents end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import partial
from typing import Any, cast

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, Message
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
        self.dlq: DeadLetterQueueReporter | None = None

    def _consumer_conf(self) -> dict[str, Any]:
        conf: dict[str, Any] = dict(self.worker.client_conf("consumer"))
        conf.update(client_overrides(self.connector_config, "consumer.override."))
        conf.update({"group.id": f"connect-{self.connector}", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "enable.partition.eof": False})
        conf.setdefault("auto.offset.reset", "earliest")
        return conf

    def _wanted_partitions(self) -> list[TopicPartition]:
        md = self.consumer.list_topics(timeout=10)
        topics = list(self.connector_config.get("topics") or [])
        regex = self.connector_config.get("topics.regex") or ""
        if regex:
            pattern = re.compile(regex)
            topics = [t for t in md.topics if pattern.fullmatch(t)]
        every = sorted(TopicPartition(t, p) for t in topics if t in md.topics
                       and md.topics[t].error is None for p in md.topics[t].partitions)
        return [tp for i, tp in enumerate(every) if i % self.num_tasks == self.task_id]

    def _refresh_assignment(self, task: SinkTask) -> None:
        new = [tp for tp in self._wanted_partitions() if tp not in self.assignment]
        if not new:
            return
        # OFFSET_INVALID: start from the group's committed offset, else auto.offset.reset.
        self.consumer.incremental_assign(
            [KafkaTopicPartition(tp.topic, tp.partition, OFFSET_INVALID) for tp in new])
        self.assignment.extend(new)
        task.open(new)
        if self.paused.is_set():
            self.consumer.pause([KafkaTopicPartition(tp.topic, tp.partition) for tp in new])

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
        self.consumer = Consumer(self._consumer_conf())
        interval = int(self.worker.get("offset.flush.interval.ms")) / 1000
        next_commit = self.clock.monotonic() + interval
        next_refresh = 0.0
        was_paused = False
        try:
            while not self.stopping.is_set():
                now = self.clock.monotonic()
                if now >= next_refresh:
                    self._refresh_assignment(task)
                    next_refresh = now + METADATA_REFRESH_S
                if self.paused.is_set() != was_paused:
                    was_paused = self.paused.is_set()
                    tps = [KafkaTopicPartition(tp.topic, tp.partition) for tp in self.assignment]
                    (self.consumer.pause if was_paused else self.consumer.resume)(tps)
                self._apply_rewinds()
                batch = self.consumer.consume(num_messages=500, timeout=0.2)
                records = self._convert(batch, key_conv, value_conv, handler)
                if records:
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
            records.append(SinkRecord(
                topic=topic, kafka_partition=partition, key=key[1], value=value[1],
                timestamp=ts if ts_type in _TIMESTAMP_TYPES else None, headers=headers,
                key_schema=key[0], value_schema=value[0], kafka_offset=offset,
                timestamp_type=_TIMESTAMP_TYPES.get(ts_type, "NoTimestampType")))
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
    def _commit(self, task: SinkTask) -> None:
        if self.dlq is not None:
            self.dlq.flush()
        offsets = task.pre_commit(dict(self.current))
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
        except Exception:
            self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=False)
            raise
        self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=True)
        self.committed.update(todo)
