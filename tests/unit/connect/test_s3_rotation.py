"""When the S3 sink closes a file: Confluent's TopicPartitionWriter rules, on a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brook.connect.api import ConnectException, SinkRecord, TopicPartition, policy
from brook.connect.connectors.s3 import connector
from brook.connect.connectors.s3.connector import S3SinkTask
from brook.connect.connectors.s3.writer import next_scheduled_rotation
from tests.unit.connect.test_s3_formats import JSON, rec, writer

HOUR = 3600 * 1000
TIME_BASED = {"format.class": JSON, "partitioner.class":
              "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
              "path.format": "'hour'=HH", "partition.duration.ms": HOUR, "timezone": "UTC",
              "timestamp.extractor": "Record"}


def ms(*args: int, zone: Any = UTC) -> int:
    return int(datetime(*args, tzinfo=zone).timestamp() * 1000)


def starts(objects: dict[str, bytes]) -> list[str]:
    return sorted(k.split("/", 2)[2] for k in objects)


def test_rotate_interval_is_ignored_with_the_default_partitioner() -> None:
    w, store = writer({"format.class": JSON, "rotate.interval.ms": 10})
    for i in range(3):
        w.write(rec({"i": i}, i, timestamp=i * 1000))
    assert store.objects == {} and w.record_count == 3


def test_rotate_interval_in_record_time_with_a_time_based_partitioner() -> None:
    w, store = writer({**TIME_BASED, "rotate.interval.ms": 1000})
    base = ms(2026, 1, 1, 5)
    for i, t in enumerate([0, 500, 999, 1000, 1200]):
        w.write(rec({"i": i}, i, timestamp=base + t))
    # The record 1000 ms after the file's first one starts a new file.
    assert starts(store.objects) == ["hour=05/t+0+0000000000.json"]
    assert w.offset_to_commit == 3 and w.record_count == 2


def test_a_new_time_partition_starts_a_new_file_with_rotate_interval() -> None:
    w, store = writer({**TIME_BASED, "rotate.interval.ms": 10 * HOUR})
    w.write(rec({"i": 0}, 0, timestamp=ms(2026, 1, 1, 5, 59)))
    w.write(rec({"i": 1}, 1, timestamp=ms(2026, 1, 1, 6, 1)))
    assert starts(store.objects) == ["hour=05/t+0+0000000000.json"]
    w.commit()
    assert starts(store.objects) == ["hour=05/t+0+0000000000.json", "hour=06/t+0+0000000001.json"]


def test_without_rotate_interval_time_partitions_keep_a_file_each() -> None:
    w, store = writer({**TIME_BASED, "flush.size": 3})
    for i, hour in enumerate([5, 6, 5]):
        w.write(rec({"i": i}, i, timestamp=ms(2026, 1, 1, hour)))
    assert starts(store.objects) == ["hour=05/t+0+0000000000.json", "hour=06/t+0+0000000001.json"]
    assert store.objects["topics/t/hour=05/t+0+0000000000.json"] == b'{"i":0}\n{"i":2}\n'


def test_scheduled_rotation_happens_on_a_put_without_records() -> None:
    now = [ms(2026, 1, 1, 5, 0, 10)]
    w, store = writer({"format.class": JSON, "rotate.schedule.interval.ms": 60_000,
                       "timezone": "UTC"}, now)
    w.write(rec({"i": 0}, 7), now[0])
    w.end_of_put(now[0])
    assert store.objects == {}
    now[0] = ms(2026, 1, 1, 5, 1, 0)  # the next whole minute since midnight
    w.end_of_put(now[0])
    assert starts(store.objects) == ["partition=0/t+0+0000000007.json"]
    assert w.offset_to_commit == 8
    assert w.next_scheduled == ms(2026, 1, 1, 5, 2, 0)
    w.end_of_put(ms(2026, 1, 1, 5, 3, 0))  # nothing open: nothing written
    assert len(store.objects) == 1


def test_next_scheduled_rotation_counts_from_local_midnight() -> None:
    utc = ZoneInfo("UTC")
    assert next_scheduled_rotation(ms(2026, 1, 1, 0, 0), HOUR, utc) == ms(2026, 1, 1, 1)
    assert next_scheduled_rotation(ms(2026, 1, 1, 0, 59), HOUR, utc) == ms(2026, 1, 1, 1)
    # 7 hours from midnight: 07:00, 14:00, 21:00, then the next midnight, not 04:00.
    assert next_scheduled_rotation(ms(2026, 1, 1, 22), 7 * HOUR, utc) == ms(2026, 1, 2)
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30
    assert next_scheduled_rotation(ms(2026, 1, 1, 10, 10, zone=kolkata), HOUR, kolkata) == \
        ms(2026, 1, 1, 11, zone=kolkata)
    paris = ZoneInfo("Europe/Paris")  # a 23-hour day: 2026-03-29
    assert next_scheduled_rotation(ms(2026, 3, 29, 23, 30, zone=paris), HOUR, paris) == \
        ms(2026, 3, 30, zone=paris)


class Context:
    def __init__(self) -> None:
        self.rewound: dict[TopicPartition, int] = {}

    def offset(self, offsets: dict[TopicPartition, int]) -> None:
        self.rewound.update(offsets)


@pytest.fixture
def local_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(policy, "_current", policy.WorkerPolicy(store_roots=(tmp_path,)))

    def start(now: list[int], **config: str) -> S3SinkTask:
        monkeypatch.setattr(connector, "_now_ms", lambda: now[0])
        task = S3SinkTask()
        task.initialize(Context())  # type: ignore[arg-type]
        task.start({"s3.bucket.name": "bkt", "store.url": f"file://{tmp_path}",
                    "format.class": JSON, "flush.size": "100", **config})
        task.open([TopicPartition("t", 0)])
        return task
    return start


def test_the_task_rotates_on_schedule_when_put_gets_no_records(local_task: Any,
                                                                tmp_path: Path) -> None:
    now = [ms(2026, 1, 1, 5, 0, 10)]
    task = local_task(now, **{"rotate.schedule.interval.ms": "1000", "timezone": "UTC"})
    task.put([rec({"i": 0}, 0)])
    assert not list(tmp_path.rglob("*.json"))
    now[0] += 1000
    task.put([])
    written = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")]
    assert written == ["bkt/topics/t/partition=0/t+0+0000000000.json"]
    assert task.pre_commit({}) == {TopicPartition("t", 0): 1}


def test_behavior_on_null_values(local_task: Any, tmp_path: Path) -> None:
    now = [0]
    ignore = local_task(now, **{"behavior.on.null.values": "ignore", "flush.size": "2"})
    ignore.put([rec(None, 0), rec({"i": 1}, 1), rec({"i": 2}, 2)])
    assert (tmp_path / "bkt/topics/t/partition=0/t+0+0000000001.json").read_bytes() == \
        b'{"i":1}\n{"i":2}\n'
    fail = local_task(now)
    with pytest.raises(ConnectException, match="Null valued records are not writeable"):
        fail.put([rec({"i": 5}, 5), rec(None, 6)])
    assert fail.context.rewound == {TopicPartition("t", 0): 5}


def test_written_tombstones_keep_their_keys(local_task: Any, tmp_path: Path) -> None:
    task = local_task([0], **{"behavior.on.null.values": "write", "store.kafka.keys": "true",
                              "keys.format.class": JSON, "flush.size": "1"})
    task.put([SinkRecord(topic="t", kafka_partition=0, key="gone", value=None, kafka_offset=3)])
    assert (tmp_path / "bkt/topics/t/tombstone/t+0+0000000003.keys.json").read_bytes() == \
        b'"gone"\n'
    assert not list(tmp_path.rglob("t+0+0000000003.json"))


def test_a_tombstone_in_a_field_time_partitioned_topic_uses_its_record_time() -> None:
    w, store = writer({**TIME_BASED, "timestamp.extractor": "RecordField",
                       "timestamp.field": "at", "store.kafka.keys": True,
                       "keys.format.class": JSON, "behavior.on.null.values": "write",
                       "rotate.interval.ms": HOUR})
    w.write(rec({"at": ms(2026, 1, 1, 5)}, 0, key="a"))
    w.write(rec(None, 1, key="b", timestamp=ms(2026, 1, 1, 5, 30)))
    w.commit()
    assert starts(store.objects) == ["hour=05/t+0+0000000000.json",
                                     "hour=05/t+0+0000000000.keys.json",
                                     "tombstone/t+0+0000000001.keys.json"]
