"""Records removed by DeleteRecords stay removed across restarts, whatever the files' times.

A log directory copied with ``cp -r`` (a disk move, a restore) or a wall clock stepped back
gives the checkpoint files an older modification time than a partition's ``partition.metadata``.
The checkpointed log start offset is still this log's and must be kept: records below it
must never be served again.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from tests.support.ck import TIMEOUT, Rec, admin, consume, consumer, create_topic, produce


@pytest.mark.parametrize("stop", ["clean", "kill9-after-checkpoint"])
def test_deleted_records_not_served_after_restart_when_partition_metadata_is_newer(
    broker_factory: Any, stop: str
) -> None:
    broker = broker_factory(**{"log.flush.start.offset.checkpoint.interval.ms": "200"})
    name = "restart-log-start"
    create_topic(broker.bootstrap, name)
    produce(broker.bootstrap, name, [Rec(value=b"%d" % i) for i in range(10)])
    a = admin(broker.bootstrap)
    [fut] = a.delete_records([TopicPartition(name, 0, 6)], request_timeout=TIMEOUT).values()
    assert fut.result(TIMEOUT).low_watermark == 6
    checkpoint = broker.data_dir / "log-start-offset-checkpoint"
    if stop == "clean":
        broker.stop()
    else:
        deadline = os.times().elapsed + 20
        while f"{name} 0 6" not in checkpoint.read_text():
            assert os.times().elapsed < deadline, checkpoint.read_text()
        broker.stop(signal.SIGKILL)
    # As after a copy that wrote the checkpoints before the partition directories.
    metadata = next(broker.data_dir.glob(f"{name}-0")) / "partition.metadata"
    later = checkpoint.stat().st_mtime_ns + 60 * 10**9
    os.utime(metadata, ns=(later, later))
    broker.start()
    c = consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT) == (6, 10)
    finally:
        c.close()
    got = consume(broker.bootstrap, name, offset=0)
    assert [m.value() for m in got] == [b"%d" % i for i in range(6, 10)]
