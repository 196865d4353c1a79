"""Partitioners: where inside ``<topics.dir>/<topic>/`` a record's object goes.

Names and encodings are Confluent's: Default -> ``partition=<p>``, Field -> ``<field>=<value>``,
TimeBased/Daily/Hourly -> ``path.format`` applied to the start of the record's time bucket in
``timezone``. Default and Field are functions of the record alone, and so is TimeBased with the
``Record``/``RecordField`` extractors: that determinism is what makes re-processing after a
crash rewrite the same objects (``Wallclock`` gives it up, as in Confluent's connector).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from brook.connect.api import DataException, SinkRecord
from brook.connect.connectors.s3.timefmt import compile_pattern

_PKG = "io.confluent.connect.storage.partitioner."
DAILY_FORMAT = "'year'=YYYY/'month'=MM/'day'=dd"
HOURLY_FORMAT = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH"
PARTITIONERS = {name: _PKG + name for name in (
    "DefaultPartitioner", "FieldPartitioner", "TimeBasedPartitioner", "DailyPartitioner",
    "HourlyPartitioner")}
EXTRACTORS = ("Wallclock", "Record", "RecordField")


def short_name(class_name: str) -> str:
    return class_name.strip().rsplit(".", 1)[-1]


class Partitioner:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.delim = str(config.get("directory.delim", "/"))

    def encode_partition(self, record: SinkRecord) -> str:
        return f"partition={record.kafka_partition}"

    def partitioned_path(self, topic: str, encoded: str) -> str:
        return f"{topic}{self.delim}{encoded}"


class FieldPartitioner(Partitioner):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.fields: list[str] = list(config.get("partition.field.name") or [])

    def encode_partition(self, record: SinkRecord) -> str:
        value = record.value
        if not isinstance(value, Mapping):
            raise DataException(f"FieldPartitioner needs a struct or map value, got "
                                f"{type(value).__name__} at {record.topic}-"
                                f"{record.kafka_partition}@{record.kafka_offset}")
        parts = []
        for name in self.fields:
            if name not in value:
                raise DataException(f"Field {name} not found in record at {record.topic}-"
                                    f"{record.kafka_partition}@{record.kafka_offset}")
            v = value[name]
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif v is not None and not isinstance(v, int | str):
                raise DataException(f"Field {name} has unsupported type {type(v).__name__}")
            parts.append(f"{name}={'null' if v is None else v}")
        return self.delim.join(parts)


def _field_path(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise DataException(f"timestamp field {path} not found in record value")
        value = value[part]
    return value


def _to_millis(v: Any, field: str) -> int:
    if isinstance(v, bool):
        raise DataException(f"timestamp field {field} is a boolean")
    if isinstance(v, int | float):
        return int(v)
    if isinstance(v, str):
        try:
            parsed = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError as exc:
            raise DataException(f"timestamp field {field} is not an ISO-8601 time: {v}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise DataException(f"timestamp field {field} has unsupported type {type(v).__name__}")


def make_extractor(config: Mapping[str, Any]) -> Callable[[SinkRecord], int]:
    """``timestamp.extractor``: milliseconds since the epoch for a record."""
    kind = short_name(str(config.get("timestamp.extractor", "Wallclock")))
    kind = kind.removesuffix("TimestampExtractor")
    if kind == "Record":
        def record_time(r: SinkRecord) -> int:
            if r.timestamp is None:
                raise DataException(f"record {r.topic}-{r.kafka_partition}@{r.kafka_offset} has "
                                    "no timestamp (timestamp.extractor=Record)")
            return r.timestamp
        return record_time
    if kind == "RecordField":
        field = str(config.get("timestamp.field", "timestamp"))
        return lambda r: _to_millis(_field_path(r.value, field), field)
    return lambda r: int(time.time_ns() // 1_000_000)


class TimeBasedPartitioner(Partitioner):
    def __init__(self, config: Mapping[str, Any], path_format: str | None = None,
                 duration_ms: int | None = None) -> None:
        super().__init__(config)
        self.path_format = path_format or str(config.get("path.format") or "")
        self.duration_ms = duration_ms or int(config.get("partition.duration.ms", -1))
        self.zone = ZoneInfo(str(config.get("timezone") or "UTC"))
        self.render = compile_pattern(self.path_format)
        self.timestamp = make_extractor(config)

    def bucket_start(self, millis: int) -> int:
        """Floor of the time to the bucket size, measured in local time of ``timezone``."""
        utc = datetime.fromtimestamp(millis / 1000, UTC)
        offset_ms = int(utc.astimezone(self.zone).utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        local = millis + offset_ms
        return local - local % self.duration_ms - offset_ms

    def encode_partition(self, record: SinkRecord) -> str:
        start = self.bucket_start(self.timestamp(record))
        return self.render(datetime.fromtimestamp(start / 1000, self.zone))


def make_partitioner(config: Mapping[str, Any]) -> Partitioner:
    name = short_name(str(config.get("partitioner.class", "DefaultPartitioner")))
    if name == "FieldPartitioner":
        return FieldPartitioner(config)
    if name == "DailyPartitioner":
        return TimeBasedPartitioner(config, DAILY_FORMAT, 24 * 3600 * 1000)
    if name == "HourlyPartitioner":
        return TimeBasedPartitioner(config, HOURLY_FORMAT, 3600 * 1000)
    if name == "TimeBasedPartitioner":
        return TimeBasedPartitioner(config)
    return Partitioner(config)
