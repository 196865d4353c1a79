"""``TopicPartitionWriter``: buffer one Kafka partition's records into objects and commit them.

An object's name embeds the offset of its first record, and its boundaries depend only on the
records (``flush.size`` counted over the whole partition, ``rotate.interval.ms`` measured in
record time). A task that restarts from the last committed offset therefore cuts the same
objects again and overwrites them with the same bytes: the store ends up with every record
exactly once. ``offset_to_commit`` (the offset after the last record of the last object
written) is what ``pre_commit`` reports, never an offset whose record is only in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from brook.connect.api import DataException, SinkRecord, TopicPartition
from brook.connect.connectors.s3.formats import Format
from brook.connect.connectors.s3.partitioner import Partitioner
from brook.connect.connectors.s3.storage import ObjectWriter


class TopicPartitionWriter:
    def __init__(self, tp: TopicPartition, config: Mapping[str, Any], partitioner: Partitioner,
                 fmt: Format, storage: ObjectWriter, record_time: Callable[[SinkRecord], int],
                 now_ms: Callable[[], int]) -> None:
        self.tp = tp
        self.partitioner, self.format, self.storage = partitioner, fmt, storage
        self.topics_dir = str(config.get("topics.dir", "topics"))
        self.delim = str(config.get("directory.delim", "/"))
        self.file_delim = str(config.get("file.delim", "+"))
        self.pad = int(config.get("filename.offset.zero.pad.width", 10))
        self.flush_size = int(config["flush.size"])
        self.rotate_interval_ms = int(config.get("rotate.interval.ms", -1))
        self.schedule_ms = int(config.get("rotate.schedule.interval.ms", -1))
        self.on_null = str(config.get("behavior.on.null.values", "fail")).lower()
        self.record_time = record_time
        self.now_ms = now_ms
        self.buffers: dict[str, list[SinkRecord]] = {}
        self.record_count = 0
        self.base_record_time: int | None = None
        self.next_scheduled: int | None = None
        self.offset_to_commit: int | None = None

    def object_key(self, encoded: str, start_offset: int) -> str:
        name = (f"{self.tp.topic}{self.file_delim}{self.tp.partition}{self.file_delim}"
                f"{str(start_offset).zfill(self.pad)}{self.format.file_extension()}")
        path = self.partitioner.partitioned_path(self.tp.topic, encoded)
        prefix = f"{self.topics_dir}{self.delim}" if self.topics_dir else ""
        return f"{prefix}{path}{self.delim}{name}"

    def write(self, record: SinkRecord) -> None:
        if record.value is None:
            if self.on_null == "fail":
                raise DataException(f"Null valued records are not writeable with current "
                                    f"behavior.on.null.values 'fail' at {self.tp.topic}-"
                                    f"{self.tp.partition}@{record.kafka_offset}")
            if self.on_null == "ignore":
                return
        if self.rotate_interval_ms > 0 and self.record_count:
            ts = self.record_time(record)
            if self.base_record_time is not None and \
                    ts - self.base_record_time >= self.rotate_interval_ms:
                self.commit()
        encoded = self.partitioner.encode_partition(record)
        if not self.record_count:
            if self.rotate_interval_ms > 0:
                self.base_record_time = self.record_time(record)
            if self.schedule_ms > 0:
                now = self.now_ms()
                self.next_scheduled = now - now % self.schedule_ms + self.schedule_ms
        self.buffers.setdefault(encoded, []).append(record)
        self.record_count += 1
        if self.record_count >= self.flush_size:
            self.commit()

    def maybe_rotate_on_schedule(self) -> None:
        """Wall-clock rotation (``rotate.schedule.interval.ms``): not deterministic by nature."""
        if self.record_count and self.next_scheduled is not None and \
                self.now_ms() >= self.next_scheduled:
            self.commit()

    def commit(self) -> None:
        """Write every open object, then advance ``offset_to_commit`` past their records."""
        last = -1
        for encoded, records in self.buffers.items():
            key = self.object_key(encoded, records[0].kafka_offset)
            self.storage.put(key, self.format.encode(records))
            last = max(last, records[-1].kafka_offset)
        self.buffers.clear()
        self.record_count = 0
        self.base_record_time = None
        self.next_scheduled = None
        if last >= 0:
            self.offset_to_commit = last + 1
