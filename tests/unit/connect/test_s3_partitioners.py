"""Partitioners and Joda path formats, in the configured time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from brook.connect.api import DataException, SinkRecord
from brook.connect.connectors.s3.partitioner import make_partitioner
from brook.connect.connectors.s3.timefmt import compile_pattern

PKG = "io.confluent.connect.storage.partitioner."


def rec(value: object, ts: int | None = None, partition: int = 2) -> SinkRecord:
    return SinkRecord(topic="orders", kafka_partition=partition, key=None, value=value,
                      timestamp=ts, kafka_offset=5)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)


def test_default_and_field() -> None:
    assert make_partitioner({}).encode_partition(rec("x")) == "partition=2"
    field = make_partitioner({"partitioner.class": PKG + "FieldPartitioner",
                              "partition.field.name": ["region", "vip"]})
    assert field.encode_partition(rec({"region": "eu", "vip": True})) == "region=eu/vip=true"
    with pytest.raises(DataException):
        field.encode_partition(rec({"region": "eu"}))


def test_hourly_in_timezone_with_record_time() -> None:
    p = make_partitioner({"partitioner.class": PKG + "HourlyPartitioner", "timezone":
                          "America/New_York", "locale": "en-US", "timestamp.extractor": "Record"})
    # 2026-03-11 14:30 UTC is 10:30 in New York (EDT).
    assert p.encode_partition(rec("x", ms(2026, 3, 11, 14, 30))) == "year=2026/month=03/day=11/hour=10"


def test_time_based_buckets_and_record_field() -> None:
    p = make_partitioner({
        "partitioner.class": PKG + "TimeBasedPartitioner", "timezone": "Asia/Kolkata",
        "path.format": "'dt'=YYYY-MM-dd/'m'=mm", "partition.duration.ms": 15 * 60 * 1000,
        "timestamp.extractor": "RecordField", "timestamp.field": "meta.at"})
    # 00:50 UTC = 06:20 IST -> 15-minute bucket starting 06:15.
    value = {"meta": {"at": ms(2026, 1, 2, 0, 50)}}
    assert p.encode_partition(rec(value)) == "dt=2026-01-02/m=15"
    assert p.encode_partition(rec({"meta": {"at": "2026-01-02T00:50:00Z"}})) == "dt=2026-01-02/m=15"


def test_daily_crosses_midnight_in_local_time() -> None:
    p = make_partitioner({"partitioner.class": PKG + "DailyPartitioner", "timezone": "Asia/Tokyo",
                          "timestamp.extractor": "Record"})
    assert p.encode_partition(rec("x", ms(2026, 5, 1, 20, 0))) == "year=2026/month=05/day=02"


def test_joda_patterns() -> None:
    d = datetime(2026, 7, 4, 9, 5, 7)
    assert compile_pattern("YYYY/MM/dd/HH/mm/ss")(d) == "2026/07/04/09/05/07"
    assert compile_pattern("'it''s' yy MMM EEEE")(d) == "it's 26 Jul Saturday"
    for bad in ("'year=YYYY", "YYYY-qq"):
        with pytest.raises(ValueError):
            compile_pattern(bad)
