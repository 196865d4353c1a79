"""A coordinator's write to the offsets topic waits for its ISR at most
``offsets.commit.timeout.ms``, and a stopping broker fails every write still waiting: a
follower that died stays in the ISR until the leader drops it, and neither a member's commit
nor the broker's shutdown may hang on it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from brook.broker.group_coordinator_wiring import ReplicaManagerPartitionWriter
from brook.coordinator.runtime import CoordinatorWriteError
from brook.env import SYSTEM_CLOCK
from brook.protocol.errors import ErrorCode
from brook.replication.partition import Partition, TopicPartition
from brook.replication.replica_manager import ReplicaManager
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from tests.support.storage_batches import make_batch


def _manager(tmp_path: Path) -> ReplicaManager:
    """A leader of ``__consumer_offsets-0`` with a follower (2) in its ISR that never fetches."""
    rm = ReplicaManager(1, LogManager([tmp_path / "data"], {}, SYSTEM_CLOCK.now_ms), {})
    log = Log.open(tmp_path / "data" / "__consumer_offsets-0", LogConfig.default(),
                   recovery_point=0, log_start_offset=0, clean_shutdown=True, now_ms=0)
    part = Partition(TopicPartition("__consumer_offsets", 0), b"\x01" * 16, log, node_id=1,
                     leader=1, leader_epoch=0, replicas=(1, 2), isr=(1, 2))
    part.update_registration(1, 0, (1, 2), (1, 2), 0, SYSTEM_CLOCK.now_ms())
    rm.partitions[part.tp] = part
    return rm


def test_a_write_waiting_for_a_silent_follower_times_out(tmp_path: Path) -> None:
    rm = _manager(tmp_path)
    writer = ReplicaManagerPartitionWriter(rm, SYSTEM_CLOCK, commit_timeout_ms=200)

    async def body() -> None:
        started = time.monotonic()
        with pytest.raises(CoordinatorWriteError) as info:
            await writer.append("__consumer_offsets", 0, [(b"k", b"v")])
        assert info.value.code == ErrorCode.REQUEST_TIMED_OUT
        assert time.monotonic() - started < 5

    asyncio.run(body())


def test_a_stopping_broker_fails_the_writes_still_waiting(tmp_path: Path) -> None:
    rm = _manager(tmp_path)
    writer = ReplicaManagerPartitionWriter(rm, SYSTEM_CLOCK, commit_timeout_ms=60_000)

    async def body() -> None:
        write = asyncio.ensure_future(writer.append("__consumer_offsets", 0, [(b"k", b"v")]))
        await asyncio.sleep(0.05)
        assert not write.done()
        rm.fail_delayed_produces("stopping")
        with pytest.raises(CoordinatorWriteError) as info:
            await asyncio.wait_for(write, 5)
        assert info.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER

    asyncio.run(body())


def test_an_acks_all_append_that_rolls_schedules_the_flush_of_the_rolled_segment(
        tmp_path: Path) -> None:
    """The append path starts the flush Kafka schedules after a roll whatever the acks: an
    acks=all append still waiting for its ISR must not leave it to the background task."""
    rm = _manager(tmp_path)
    part = rm.partitions[("__consumer_offsets", 0)]
    part.log.update_config(LogConfig.from_props({"segment.bytes": "1024"}))

    async def body() -> None:
        for _ in range(4):
            rm.append(part, memoryview(make_batch(1, value_size=300)), -1, SYSTEM_CLOCK.now_ms())
        assert part.log.num_segments > 1
        for _ in range(100):
            if part.log.recovery_point >= part.log.segments[-1].base_offset:
                break
            await asyncio.sleep(0.02)
        assert part.log.recovery_point >= part.log.segments[-1].base_offset

    asyncio.run(body())
