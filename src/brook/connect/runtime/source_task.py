"""``WorkerSourceTask``: poll the connector, produce, and store source offsets once acknowledged.

Offsets are written to the offset topic only after ``producer.flush`` returned with every record
acknowledged, so a restarted task never skips a record Kafka did not get (it may re-send the
records polled after the last offset flush: at-least-once, as in Kafka Connect without EOS).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, Producer

from brook.connect.api import (
    ConnectException,
    OffsetStorageReader,
    SourceRecord,
    SourceTask,
)
from brook.connect.runtime import log_context
from brook.connect.runtime.connector_config import client_overrides
from brook.connect.runtime.converters import header_bytes
from brook.connect.runtime.errors import ErrorHandler, Stage
from brook.connect.runtime.stores import OffsetStore
from brook.connect.runtime.worker_task import WorkerTask

log = logging.getLogger(__name__)


class _Reader:
    def __init__(self, store: OffsetStore, connector: str) -> None:
        self.store, self.connector = store, connector

    def offset(self, partition: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return self.store.get(self.connector, partition)


class _Context:
    def __init__(self, owner: WorkerSourceTask) -> None:
        self.owner = owner

    def configs(self) -> Mapping[str, str]:
        return self.owner.task_props

    def offset_storage_reader(self) -> OffsetStorageReader:
        return _Reader(self.owner.offsets, self.owner.connector)


class WorkerSourceTask(WorkerTask):
    kind = "source"

    def __init__(self, *args: Any, task_class: type[SourceTask], offsets: OffsetStore,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.task_class = task_class
        self.offsets = offsets
        self.pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.delivery_errors: list[KafkaError] = []

    def execute(self) -> None:
        key_conv, value_conv = self.converters()
        handler = ErrorHandler(self.connector_config, self.stopping, None, self.metrics)
        conf: dict[str, Any] = dict(self.worker.client_conf("producer"))
        conf.update(client_overrides(self.connector_config, "producer.override."))
        conf.update({"acks": "all", "enable.idempotence": True})
        producer = Producer(conf)
        task = self.task_class()
        task.initialize(_Context(self))
        task.start(self.task_props)
        interval = int(self.worker.get("offset.flush.interval.ms")) / 1000
        next_flush = self.clock.monotonic() + interval
        try:
            while not self.stopping.is_set():
                if self.paused.is_set():
                    self.stopping.wait(0.1)
                    continue
                start = self.clock.monotonic()
                records = handler.retry(task.poll) or []
                if records:
                    self.metrics.records_read(len(records))
                    self.metrics.batch(len(records), (self.clock.monotonic() - start) * 1000)
                for record in records:
                    self._send(producer, record, key_conv, value_conv, handler, task)
                producer.poll(0)
                if self.clock.monotonic() >= next_flush:
                    self._flush_offsets(producer, task)
                    next_flush = self.clock.monotonic() + interval
            self._flush_offsets(producer, task)
        finally:
            task.stop()
            producer.flush(10)

    def _send(self, producer: Producer, record: SourceRecord, key_conv: Any, value_conv: Any,
              handler: ErrorHandler, task: SourceTask) -> None:
        transformed = self.chain.apply(record, handler)
        if transformed is None:  # dropped: its position still counts, as in Kafka
            task.commit_record(record)
            if record.source_partition:
                pkey = json.dumps(dict(record.source_partition), sort_keys=True)
                self.pending[pkey] = (dict(record.source_partition), dict(record.source_offset))
            return
        record = transformed
        key = handler.execute(
            lambda: key_conv.from_connect_data(record.topic, record.key_schema, record.key),
            Stage.KEY_CONVERTER, type(key_conv).__name__, None)
        value = handler.execute(
            lambda: value_conv.from_connect_data(record.topic, record.value_schema, record.value),
            Stage.VALUE_CONVERTER, type(value_conv).__name__, None)
        if key is ErrorHandler.SKIP or value is ErrorHandler.SKIP:
            return

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            if err is not None:
                self.delivery_errors.append(err)
            else:
                self.metrics.records_written(1)
                self.record_active_topic(record.topic)
                task.commit_record(record)

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": delivered,
                                  "headers": [(h.key, header_bytes(h.value)) for h in record.headers]}
        if record.kafka_partition is not None:
            kwargs["partition"] = record.kafka_partition
        if record.timestamp is not None:
            kwargs["timestamp"] = record.timestamp
        while True:
            try:
                producer.produce(record.topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        if record.source_partition:
            pkey = json.dumps(dict(record.source_partition), sort_keys=True)
            self.pending[pkey] = (dict(record.source_partition), dict(record.source_offset))

    @log_context.offsets
    def _flush_offsets(self, producer: Producer, task: SourceTask) -> None:
        start = self.clock.monotonic()
        if producer.flush(float(self.worker.get("offset.flush.timeout.ms")) / 1000) > 0:
            self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=False)
            return  # not all acknowledged yet; try again next interval
        if self.delivery_errors:
            self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=False)
            raise ConnectException(f"producing failed: {self.delivery_errors[0]}")
        pending, self.pending = self.pending, {}
        for partition, offset in pending.values():
            self.offsets.put(self.connector, partition, offset)
        self.metrics.commit((self.clock.monotonic() - start) * 1000, ok=True)
        task.commit()
