"""``S3SinkConnector`` and ``S3SinkTask`` (Confluent's class names are aliases of these).

The task never claims more than it wrote: ``pre_commit`` returns, per partition, the offset after
the last object written (Confluent's ``getOffsetToCommitAndReset``), and ``flush`` writes
nothing. If ``put`` fails mid-batch, the buffers of the batch's partitions are discarded and the
consumer is rewound to their first unwritten record, so a retry rebuilds the same objects.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from brook.connect.api import (
    ConfigDef,
    ConnectException,
    SinkConnector,
    SinkRecord,
    SinkTask,
    Task,
    TopicPartition,
)
from brook.connect.connectors.s3.config import S3_CONFIG
from brook.connect.connectors.s3.formats import make_format
from brook.connect.connectors.s3.partitioner import make_extractor, make_partitioner
from brook.connect.connectors.s3.storage import ObjectWriter
from brook.connect.connectors.s3.writer import TopicPartitionWriter

VERSION = "0.1.0"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class S3SinkTask(SinkTask):
    def version(self) -> str:
        return VERSION

    def start(self, props: Mapping[str, str]) -> None:
        self.config: dict[str, Any] = S3_CONFIG.parse(props)
        self.storage = ObjectWriter(self.config)
        self.partitioner = make_partitioner(self.config)
        self.format = make_format(self.config)
        self.key_format = make_format(self.config, "keys.format.class") \
            if self.config.get("store.kafka.keys") else None
        self.header_format = make_format(self.config, "headers.format.class") \
            if self.config.get("store.kafka.headers") else None
        self.on_null = str(self.config.get("behavior.on.null.values", "fail")).lower()
        self.record_time = make_extractor(self.config)
        self.writers: dict[TopicPartition, TopicPartitionWriter] = {}

    def _writer(self, tp: TopicPartition) -> TopicPartitionWriter:
        w = self.writers.get(tp)
        if w is None:
            w = TopicPartitionWriter(tp, self.config, self.partitioner, self.format, self.storage,
                                     self.record_time, _now_ms, self.key_format,
                                     self.header_format)
            self.writers[tp] = w
        return w

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._writer(tp)

    def _skip_null(self, record: SinkRecord) -> bool:
        """``behavior.on.null.values``: ``ignore`` skips a tombstone, ``write`` keeps it (its key
        goes to the tombstone partition), ``fail`` fails the task."""
        if record.value is not None or self.on_null == "write":
            return False
        if self.on_null == "ignore":
            return True
        raise ConnectException(f"Null valued records are not writeable with current "
                               f"behavior.on.null.values 'fail' settings ({record.topic}-"
                               f"{record.kafka_partition}@{record.kafka_offset})")

    def put(self, records: Sequence[SinkRecord]) -> None:
        """Buffer the records, then check every partition's time-based rotation: the runtime
        calls ``put`` with no records too, so scheduled rotation happens on an idle topic."""
        now = _now_ms()
        try:
            for record in records:
                if not self._skip_null(record):
                    self._writer(record.topic_partition).write(record, now)
        except Exception:
            firsts: dict[TopicPartition, int] = {}
            for r in records:
                firsts.setdefault(r.topic_partition, r.kafka_offset)
            for tp, first in firsts.items():
                self._rewind(tp, first)
            raise
        for tp, w in list(self.writers.items()):
            try:
                w.end_of_put(now)
            except Exception:
                starts = [rs[0].kafka_offset for rs in w.buffers.values()]
                if starts:
                    self._rewind(tp, min(starts))
                raise

    def _rewind(self, tp: TopicPartition, failed_at: int) -> None:
        """Drop the partition's buffer and have the runtime re-read from its first record."""
        old = self.writers.pop(tp, None)
        starts = [rs[0].kafka_offset for rs in old.buffers.values()] if old is not None else []
        self.context.offset({tp: min([*starts, failed_at])})
        if old is not None:
            self._writer(tp).offset_to_commit = old.offset_to_commit

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for tp, w in self.writers.items():
            if w.offset_to_commit is not None:
                out[tp] = w.offset_to_commit
                w.offset_to_commit = None
        return out

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self.writers.pop(tp, None)

    def stop(self) -> None:
        self.writers = {}


class S3SinkConnector(SinkConnector):
    def version(self) -> str:
        return VERSION

    def config(self) -> ConfigDef:
        return S3_CONFIG

    def start(self, props: Mapping[str, str]) -> None:
        S3_CONFIG.parse(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return S3SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass
