"""A week of retention and group expiry in virtual time, on a real log directory.

A real ``LogManager`` (files in a temporary directory) holds a data topic and the
``__consumer_offsets`` partition the group coordinator writes to; both run on one
``VirtualClock`` under a ``VirtualTimeLoop``, so every wait (heartbeats, session timeouts, the
coordinator's offset-expiry timer, retention checks) passes in virtual time. The test asserts
the virtual moment of each expiry and that the whole week takes well under a second.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from pathlib import Path

from brook.coordinator.group import GroupCoordinatorConfig, GroupCoordinatorService, RequestMeta
from brook.coordinator.group.classic_group import ClassicGroupState
from brook.coordinator.runtime import CoordinatorRecord, ReplayFn
from brook.env import Rng
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.heartbeat import HeartbeatRequest
from brook.protocol.messages.join_group import JoinGroupRequest
from brook.protocol.messages.offset_commit import OffsetCommitRequest
from brook.protocol.messages.sync_group import SyncGroupRequest
from brook.records.batch import iter_batches
from brook.records.record import build_batch, decode_records
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_manager import LogManager
from brook.testing import vtime
from brook.testing.clock import VirtualClock
from tests.support.group_context import settle, subscription

S = 1_000  # ms
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
WEEK = 7 * DAY

RETENTION_CHECK_MS = 5 * MIN
DATA_RETENTION_MS = 2 * DAY
OFFSETS_RETENTION_MS = 3 * DAY
OFFSETS_CHECK_MS = 10 * MIN
SESSION_MS = 30 * S
HEARTBEAT_MS = 3 * S
HEARTBEATS_FOR_MS = 10 * MIN
META = RequestMeta("client", "/127.0.0.1", 5)


class LogWriter:
    """The coordinator's ``PartitionWriter`` and ``CoordinatorLoader`` over one real ``Log``."""

    def __init__(self, log: Log, clock: VirtualClock) -> None:
        self.log = log
        self.clock = clock

    async def append(self, topic: str, partition: int,
                     records: Sequence[CoordinatorRecord]) -> int:
        now = self.clock.now_ms()
        batch = build_batch([(key, value, (), now) for key, value in records])
        return self.log.append_as_leader(memoryview(batch), 0, now).last_offset

    async def load(self, topic: str, partition: int, replay: ReplayFn) -> None:
        offset = self.log.log_start_offset
        while offset < self.log.log_end_offset:
            data = self.log.read(offset, 1 << 20, self.log.log_end_offset, True)
            for chunk in data.chunks:
                for pos, header in iter_batches(chunk):
                    for record in decode_records(chunk, pos):
                        replay(record.offset, record.key, record.value)
                    offset = header.next_offset


def test_a_week_of_retention_session_timeout_and_offset_expiry(tmp_path: Path) -> None:
    clock = VirtualClock()
    seen: dict[str, object] = {}

    async def week() -> None:
        manager = LogManager([tmp_path], {"log.retention.check.interval.ms":
                                          str(RETENTION_CHECK_MS)}, clock.now_ms, timers=clock)
        manager.startup()
        data = manager.get_or_create_log("events", 0, LogConfig.from_props(
            {"retention.ms": str(DATA_RETENTION_MS)}))
        offsets_log = manager.get_or_create_log("__consumer_offsets", 0, LogConfig.from_props(
            {"cleanup.policy": "compact"}))
        writer = LogWriter(offsets_log, clock)
        config = GroupCoordinatorConfig(
            offsets_topic_num_partitions=1, initial_rebalance_delay_ms=0,
            offsets_retention_ms=OFFSETS_RETENTION_MS,
            offsets_retention_check_interval_ms=OFFSETS_CHECK_MS)
        service = GroupCoordinatorService(config, writer, writer, clock, Rng(seed=7))
        service.on_elected(0)
        await settle()  # the load: no virtual time passes
        elected_at = clock.elapsed_ms()
        shard = service.shards[0]

        # Retention as the log manager's background task runs it: a pass every
        # log.retention.check.interval.ms (that task also wakes every second to flush, which
        # would cost 600k rounds a week; the retention pass itself is the one under test).
        deletions: list[tuple[int, int]] = []

        async def retention() -> None:
            while True:
                await clock.sleep(RETENTION_CHECK_MS / 1000)
                deleted = await manager.apply_retention(clock.now_ms())
                if deleted:
                    deletions.append((clock.elapsed_ms(), deleted))

        async def produce_daily() -> None:
            for day in range(7):
                await clock.sleep((day * DAY + HOUR - clock.elapsed_ms()) / 1000)
                now = clock.now_ms()
                data.append_as_leader(memoryview(build_batch([(b"k", b"v", (), now)])), 0, now)
                data.roll(now)

        tasks = [asyncio.create_task(retention()), asyncio.create_task(produce_daily())]

        # One consumer joins, syncs, commits, heartbeats for ten minutes, then goes silent.
        join = JoinGroupRequest(
            group_id="g", session_timeout_ms=SESSION_MS, rebalance_timeout_ms=SESSION_MS,
            member_id="", group_instance_id=None, protocol_type="consumer",
            protocols=[JoinGroupRequest.JoinGroupRequestProtocol(
                name="range", metadata=subscription("events"))])
        first = await service.join_group(META, join)
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
        join.member_id = first.member_id
        joined = await service.join_group(META, join)
        assert joined.error_code == ErrorCode.NONE, joined
        member, generation = joined.member_id, joined.generation_id
        synced = await service.sync_group(META, SyncGroupRequest(
            group_id="g", generation_id=generation, member_id=member, group_instance_id=None,
            protocol_type="consumer", protocol_name="range",
            assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=member,
                                                                     assignment=b"")]))
        assert synced.error_code == ErrorCode.NONE
        P = OffsetCommitRequest.OffsetCommitRequestPartition
        committed = await service.commit_offsets(META, OffsetCommitRequest(
            group_id="g", generation_id_or_member_epoch=generation, member_id=member,
            group_instance_id=None, retention_time_ms=-1,
            topics=[OffsetCommitRequest.OffsetCommitRequestTopic(name="events", partitions=[
                P(partition_index=0, committed_offset=1, committed_leader_epoch=-1,
                  committed_metadata="")])]))
        assert committed.topics[0].partitions[0].error_code == ErrorCode.NONE

        heartbeat = HeartbeatRequest(group_id="g", generation_id=generation, member_id=member,
                                     group_instance_id=None)
        while clock.elapsed_ms() + HEARTBEAT_MS <= HEARTBEATS_FOR_MS:
            await clock.sleep(HEARTBEAT_MS / 1000)
            assert service.heartbeat(META, heartbeat).error_code == ErrorCode.NONE
        last_heartbeat = clock.elapsed_ms()
        group = shard.groups.groups["g"]

        # The session times out session.timeout.ms after the last heartbeat, not before.
        await clock.sleep((last_heartbeat + SESSION_MS - 1 - clock.elapsed_ms()) / 1000)
        assert member in group.members
        await clock.sleep(2 / 1000)
        assert member not in group.members and group.state is ClassicGroupState.EMPTY
        emptied = last_heartbeat + SESSION_MS
        assert group.state_timestamp_ms == clock.now_ms() - clock.elapsed_ms() + emptied

        # The empty group's offsets expire offsets.retention.minutes after it emptied, at the
        # first pass of the coordinator's expiry timer from then on; the group goes with them.
        ticks = math.ceil((emptied + OFFSETS_RETENTION_MS - elected_at) /
                          OFFSETS_CHECK_MS)
        expiry = elected_at + ticks * OFFSETS_CHECK_MS
        assert expiry >= emptied + OFFSETS_RETENTION_MS
        await clock.sleep((expiry - 1 - clock.elapsed_ms()) / 1000)
        assert shard.offsets.offsets["g"][("events", 0)].committed_offset == 1
        await clock.sleep(2 / 1000)
        assert "g" not in shard.groups.groups
        assert "g" not in shard.offsets.offsets

        await clock.sleep((WEEK - clock.elapsed_ms()) / 1000)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        seen["deletions"] = deletions
        seen["segments"] = [s.base_offset for s in data.segments]
        seen["log_start"] = data.log_start_offset
        seen["expiry"] = expiry

        # The expiry is in the log: a coordinator rebuilt from it knows no group "g".
        await service.shutdown()
        rebuilt = GroupCoordinatorService(config, writer, writer, clock, Rng(seed=7))
        rebuilt.on_elected(0)
        await settle()
        assert "g" not in rebuilt.shards[0].groups.groups
        await rebuilt.shutdown()
        await manager.shutdown()

    started = time.perf_counter()
    vtime.run(week(), clock=clock)
    wall = time.perf_counter() - started

    assert clock.elapsed_ms() == WEEK
    # Segment d holds a record stamped d days + 1 h; retention.ms later it is past retention,
    # and the first check strictly after that deletes it (checks fall every 5 minutes).
    expected = [(d * DAY + HOUR + DATA_RETENTION_MS + RETENTION_CHECK_MS, 1) for d in range(5)]
    assert seen["deletions"] == expected
    assert seen["log_start"] == 5
    assert seen["segments"] == [5, 6, 7]
    assert wall < 1.0, f"a virtual week took {wall:.2f}s of wall time"
