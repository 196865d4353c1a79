"""``TopicPartitionWriter``: buffer one Kafka partition's records into objects and commit them.

The rules are Confluent's ``TopicPartitionWriter``'s. Records go to one open file per encoded
partition; all open files are committed together when

* ``flush.size`` records are buffered;
* a record's value schema differs from the schema of its encoded partition's open file
  (``schema.compatibility=NONE``; BACKWARD/FULL: is newer, FORWARD: is older - other records
  are projected to the file's schema, see ``compatibility``): files are committed first, so a
  file has one schema;
* with a time-based partitioner and ``rotate.interval.ms``: a record's time is that far past
  the first buffered record's, or the record belongs to another encoded partition than the
  previous one (``rotate.interval.ms`` is ignored with other partitioners, as in Confluent's);
* ``rotate.schedule.interval.ms``: the wall clock passed the next multiple of the interval
  since midnight in ``timezone``. This is checked on every ``put``, and the runtime calls
  ``put`` also when no records came, so an idle partition's open files are written on time.

An object's name embeds the offset of its first record. Apart from the scheduled rotation
(wall-clock, non-deterministic by nature) the boundaries depend only on the records, so a task
that restarts from the last committed offset cuts the same objects and overwrites them with the
same bytes. ``offset_to_commit`` (past the last record of the last commit) is what
``pre_commit`` reports, never an offset whose record is only in memory.

With ``store.kafka.keys``/``store.kafka.headers`` each value file gets ``<name>.keys<ext>`` and
``<name>.headers<ext>`` beside it; with ``behavior.on.null.values=write`` tombstones go to the
``tombstone.encoded.partition`` directory, which holds only keys (and headers) files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from brook.connect.api import DataException, SinkRecord, TopicPartition
from brook.connect.connectors.s3.compatibility import Compatibility
from brook.connect.connectors.s3.formats import Format
from brook.connect.connectors.s3.partitioner import Partitioner, TimeBasedPartitioner
from brook.connect.connectors.s3.schemas import Schema, view
from brook.connect.connectors.s3.storage import ObjectWriter

_UNSET: Any = object()


def next_scheduled_rotation(now_ms: int, period_ms: int, zone: ZoneInfo) -> int:
    """The next multiple of ``period_ms`` after ``now_ms``, counted from midnight in ``zone``,
    and never later than the next midnight (Confluent's ``getNextTimeAdjustedByDay``)."""
    local = datetime.fromtimestamp(now_ms / 1000, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    start = int(midnight.timestamp() * 1000)
    day_ms = int((midnight + timedelta(days=1)).timestamp() * 1000) - start  # 23-25 h with DST
    offset = ((now_ms - start) // period_ms + 1) * period_ms
    return start + min(offset, day_ms)


def _loggable(r: SinkRecord) -> str:
    return f"SinkRecord{{kafkaOffset={r.kafka_offset}, topic='{r.topic}', " \
           f"kafkaPartition={r.kafka_partition}}}"


class TopicPartitionWriter:
    def __init__(self, tp: TopicPartition, config: Mapping[str, Any], partitioner: Partitioner,
                 fmt: Format, storage: ObjectWriter, record_time: Callable[[SinkRecord], int],
                 now_ms: Callable[[], int], key_format: Format | None = None,
                 header_format: Format | None = None) -> None:
        self.tp = tp
        self.partitioner, self.format, self.storage = partitioner, fmt, storage
        self.key_format, self.header_format = key_format, header_format
        self.topics_dir = str(config.get("topics.dir", "topics"))
        self.delim = str(config.get("directory.delim", "/"))
        self.file_delim = str(config.get("file.delim", "+"))
        self.pad = int(config.get("filename.offset.zero.pad.width", 10))
        self.flush_size = int(config["flush.size"])
        self.record_time: Callable[[SinkRecord], int] | None = (
            record_time if isinstance(partitioner, TimeBasedPartitioner) else None)
        self.rotate_interval_ms = int(config.get("rotate.interval.ms", -1))
        self.schedule_ms = int(config.get("rotate.schedule.interval.ms", -1))
        self.zone = ZoneInfo(str(config.get("timezone") or "UTC"))
        self.write_tombstones = str(config.get("behavior.on.null.values", "fail")).lower() == "write"
        self.tombstone_partition = str(config.get("tombstone.encoded.partition", "tombstone"))
        self.compatibility = Compatibility(str(config.get("schema.compatibility", "NONE")))
        self.now_ms = now_ms
        self.buffers: dict[str, list[SinkRecord]] = {}
        self.schemas: dict[str, Schema | None] = {}
        self.record_count = 0
        self.base_record_time: int | None = None
        self.current_time: int | None = None
        self.current_encoded: str | None = None
        self.offset_to_commit: int | None = None
        self.next_scheduled = 0
        self._schedule()

    def _schedule(self) -> None:
        if self.schedule_ms > 0:
            self.next_scheduled = next_scheduled_rotation(self.now_ms(), self.schedule_ms,
                                                          self.zone)

    def file_name(self, encoded: str, start_offset: int, extension: str) -> str:
        name = (f"{self.tp.topic}{self.file_delim}{self.tp.partition}{self.file_delim}"
                f"{str(start_offset).zfill(self.pad)}{extension}")
        path = self.partitioner.partitioned_path(self.tp.topic, encoded)
        prefix = f"{self.topics_dir}{self.delim}" if self.topics_dir else ""
        return f"{prefix}{path}{self.delim}{name}"

    def object_key(self, encoded: str, start_offset: int) -> str:
        return self.file_name(encoded, start_offset, self.format.file_extension())

    def _rotate_on_time(self, encoded: str | None, record_time: int | None, now: int) -> bool:
        if self.record_count <= 0:
            return False
        periodic = (self.rotate_interval_ms > 0 and self.record_time is not None
                    and record_time is not None and self.base_record_time is not None
                    and (record_time - self.base_record_time >= self.rotate_interval_ms
                         or encoded != self.current_encoded))
        return periodic or (self.schedule_ms > 0 and now >= self.next_scheduled)

    def _check_views(self, record: SinkRecord) -> None:
        """Refuse before buffering what would leave value, keys and headers files misaligned."""
        if self.key_format is not None and record.key is None:
            raise DataException(f"Key cannot be null for SinkRecord: {_loggable(record)}")
        if self.header_format is not None and not len(record.headers):
            raise DataException(f"Headers cannot be null for SinkRecord: {_loggable(record)}")
        if self.write_tombstones and self.key_format is None:
            raise DataException("Key Writer must be configured when writing tombstone records "
                                "is enabled.")

    @staticmethod
    def _record_time(record: SinkRecord, extract: Callable[[SinkRecord], int]) -> int:
        try:
            return extract(record)
        except DataException:
            if record.value is not None:
                raise
            # A tombstone has no value to read a time field from: its record time stands in.
            return record.timestamp or 0

    def write(self, record: SinkRecord, now: int | None = None) -> None:
        """Buffer one record, committing open files first or after as the rules above say."""
        now = self.now_ms() if now is None else now
        tombstone = record.value is None
        if self.record_time is not None:
            ts = self._record_time(record, self.record_time)
            self.current_time = ts
            if self.base_record_time is None:
                self.base_record_time = ts
        encoded = self.tombstone_partition if tombstone and self.write_tombstones \
            else self.partitioner.encode_partition(record)
        schema = None if tombstone else self.format.schema_of(record.value_schema, record.value)
        current = self.schemas.get(encoded, _UNSET)
        if current is _UNSET:
            self.schemas[encoded] = current = schema
        if self.compatibility.should_change(schema, current) and self.record_count > 0:
            self.commit()
            self.write(record, now)
            return
        if self._rotate_on_time(encoded, self.current_time, now):
            self._schedule()
            self.commit()
            self.write(record, now)
            return
        self._check_views(record)
        if current is not schema and self.compatibility.mode != "NONE" and not tombstone:
            record = replace(record, value_schema=current, value=self.compatibility.project(
                schema, record.value, current))
        self.current_encoded = encoded
        self.buffers.setdefault(encoded, []).append(record)
        self.record_count += 1
        if self.record_count >= self.flush_size:
            self.commit()

    def end_of_put(self, now: int | None = None) -> None:
        """After a ``put`` (empty or not): commit if the rotation time has come."""
        now = self.now_ms() if now is None else now
        if self.record_count > 0 and self._rotate_on_time(self.current_encoded,
                                                          self.current_time, now):
            self._schedule()
            self.commit()

    def _put_views(self, encoded: str, records: list[SinkRecord]) -> None:
        start = records[0].kafka_offset
        value_ext = self.format.file_extension()
        if encoded != self.tombstone_partition or not self.write_tombstones:
            items = [view(r, "value", self.format.enveloped) for r in records]
            self.storage.put(self.file_name(encoded, start, value_ext), self.format.encode(items))
        for kind, fmt in (("key", self.key_format), ("headers", self.header_format)):
            if fmt is None:
                continue
            items = [view(r, kind, fmt.enveloped) for r in records]
            ext = (".keys" if kind == "key" else ".headers") + fmt.file_extension()
            self.storage.put(self.file_name(encoded, start, ext), fmt.encode(items))

    def commit(self) -> None:
        """Write every open file, then advance ``offset_to_commit`` past their records."""
        last = -1
        for encoded, records in self.buffers.items():
            self._put_views(encoded, records)
            last = max(last, records[-1].kafka_offset)
        self.buffers.clear()
        self.schemas.clear()
        self.record_count = 0
        self.base_record_time = None
        self.current_encoded = None
        if last >= 0:
            self.offset_to_commit = last + 1
