"""The group coordinator as the broker sees it (Kafka's GroupCoordinatorService).

It routes each group to the shard of its ``__consumer_offsets`` partition, answers
NOT_COORDINATOR for partitions led elsewhere and COORDINATOR_LOAD_IN_PROGRESS while a shard is
still replaying its log, runs each operation on its shard, hands the records to the shard's
write queue, and turns append failures into the error codes clients expect. The broker tells
it which partitions it leads (``on_elected``/``on_resigned``); loading reads the partition back
through a ``CoordinatorLoader``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from brook.coordinator.group.config import OFFSETS_TOPIC, GroupCoordinatorConfig
from brook.coordinator.group.group_coordinator_shard import (
    GroupCoordinatorShard,
    ShardState,
    TimerFactory,
)
from brook.coordinator.group.group_listing import describe_group, list_groups
from brook.coordinator.group.offset_metadata_manager import FetchTopics
from brook.coordinator.group.rebalance import join_error, sync_error
from brook.coordinator.group.request_meta import RequestMeta
from brook.coordinator.runtime import (
    CoordinatorLoader,
    EventLoopTimer,
    PartitionWriter,
    commit_error_for,
    group_error_for,
)
from brook.env import Clock, Rng
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_groups import DeleteGroupsResponse
from brook.protocol.messages.describe_groups import DescribeGroupsResponse
from brook.protocol.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from brook.protocol.messages.join_group import JoinGroupRequest, JoinGroupResponse
from brook.protocol.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse
from brook.protocol.messages.list_groups import ListGroupsResponse
from brook.protocol.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse
from brook.protocol.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse
from brook.protocol.messages.sync_group import SyncGroupRequest, SyncGroupResponse

log = logging.getLogger(__name__)

DeletableGroupResult = DeleteGroupsResponse.DeletableGroupResult


def java_string_hashcode(value: str) -> int:
    """``String.hashCode()``: over UTF-16 code units, wrapping at 32 bits."""
    h = 0
    data = value.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(group_id: str, num_partitions: int) -> int:
    """Kafka's placement: ``Utils.abs(groupId.hashCode) % partitions`` (abs of MIN_VALUE is
    0), so a client and any Kafka tool agree on where a group lives."""
    h = java_string_hashcode(group_id)
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


class GroupCoordinatorService:
    """Lifecycle: created with the broker; shards come and go with leadership; ``shutdown``
    closes them all. Event-loop thread only."""

    def __init__(self, config: GroupCoordinatorConfig, writer: PartitionWriter,
                 loader: CoordinatorLoader, clock: Clock, rng: Rng,
                 timer_factory: TimerFactory | None = None) -> None:
        """``timer_factory`` makes each shard's timers; by default they run on ``clock``."""
        self.config = config
        self.num_partitions = config.offsets_topic_num_partitions
        self.shards: dict[int, GroupCoordinatorShard] = {}
        self._writer = writer
        self._loader = loader
        self._clock = clock
        self._rng = rng
        self._timer_factory: TimerFactory = (
            timer_factory if timer_factory is not None
            else lambda sink: EventLoopTimer(sink, clock))
        self._loads: dict[int, asyncio.Task[None]] = {}

    def partition_for(self, group_id: str) -> int:
        return partition_for(group_id, self.num_partitions)

    # -- leadership ------------------------------------------------------------------------
    def on_elected(self, partition: int) -> None:
        if partition in self.shards:
            return
        shard = GroupCoordinatorShard(OFFSETS_TOPIC, partition, self.config, self._writer,
                                      self._clock, self._rng, self._timer_factory)
        self.shards[partition] = shard
        self._loads[partition] = asyncio.get_running_loop().create_task(self._load(shard))

    async def _load(self, shard: GroupCoordinatorShard) -> None:
        start = self._clock.monotonic()
        try:
            await self._loader.load(shard.topic, shard.partition, shard.replay)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("loading %s-%d failed", shard.topic, shard.partition)
            if self.shards.get(shard.partition) is shard:
                del self.shards[shard.partition]
                shard.close()
            return
        finally:
            self._loads.pop(shard.partition, None)
        if shard.state is ShardState.LOADING:
            shard.on_loaded()
            log.info("loaded %s-%d: %d groups, %d with offsets, in %.0f ms", shard.topic,
                     shard.partition, len(shard.groups.groups), len(shard.offsets.offsets),
                     (self._clock.monotonic() - start) * 1000)

    def on_resigned(self, partition: int) -> None:
        task = self._loads.pop(partition, None)
        if task is not None:
            task.cancel()
        shard = self.shards.pop(partition, None)
        if shard is not None:
            shard.close()

    async def shutdown(self) -> None:
        tasks = list(self._loads.values())
        for partition in list(self.shards):
            self.on_resigned(partition)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _shard(self, group_id: str) -> GroupCoordinatorShard | ErrorCode:
        shard = self.shards.get(self.partition_for(group_id))
        if shard is None or shard.state is ShardState.CLOSED:
            return ErrorCode.NOT_COORDINATOR
        if shard.state is ShardState.LOADING:
            return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
        return shard

    # -- membership ------------------------------------------------------------------------
    async def join_group(self, meta: RequestMeta, request: JoinGroupRequest) -> JoinGroupResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return join_error(request.member_id, shard)
        result = shard.groups.classic_group_join(meta, request)
        shard.submit(result)
        return await result.response

    async def sync_group(self, meta: RequestMeta, request: SyncGroupRequest) -> SyncGroupResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return sync_error(shard)
        result = shard.groups.classic_group_sync(meta, request)
        shard.submit(result)
        return await result.response

    def heartbeat(self, meta: RequestMeta, request: HeartbeatRequest) -> HeartbeatResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return HeartbeatResponse(error_code=shard)
        result = shard.groups.classic_group_heartbeat(meta, request)
        shard.submit(result)
        return result.response

    async def leave_group(self, meta: RequestMeta, request: LeaveGroupRequest
                          ) -> LeaveGroupResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return LeaveGroupResponse(error_code=shard, members=[])
        result = shard.groups.classic_group_leave(meta, request)
        code = await shard.submit(result)
        if code != ErrorCode.NONE:
            result.response.error_code = group_error_for(code)
        return result.response

    # -- offsets ---------------------------------------------------------------------------
    async def commit_offsets(self, meta: RequestMeta, request: OffsetCommitRequest
                             ) -> OffsetCommitResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return _commit_response(request, shard)
        result = shard.offsets.commit_offset(meta, request)
        code = await shard.submit(result)
        if code != ErrorCode.NONE:
            mapped = commit_error_for(code)
            for topic in result.response.topics:
                for p in topic.partitions:
                    if p.error_code == ErrorCode.NONE:
                        p.error_code = mapped
        return result.response

    def fetch_offsets(self, group_id: str, topics: list[tuple[str, list[int]]] | None
                      ) -> tuple[ErrorCode, list[FetchTopics]]:
        """``require_stable`` needs no wait here: without transactional commits, nothing
        committed is ever pending once its append has returned."""
        shard = self._shard(group_id)
        if isinstance(shard, ErrorCode):
            return shard, []
        return ErrorCode.NONE, shard.offsets.fetch_offsets(group_id, topics)

    async def delete_offsets(self, request: OffsetDeleteRequest) -> OffsetDeleteResponse:
        shard = self._shard(request.group_id)
        if isinstance(shard, ErrorCode):
            return OffsetDeleteResponse(error_code=shard, topics=[])
        result = shard.offsets.delete_offsets(request)
        code = await shard.submit(result)
        if code != ErrorCode.NONE:
            return OffsetDeleteResponse(error_code=group_error_for(code), topics=[])
        return result.response

    # -- administration --------------------------------------------------------------------
    def list_groups(self, states: set[str], types: set[str]
                    ) -> tuple[ErrorCode, list[ListGroupsResponse.ListedGroup]]:
        error = ErrorCode.NONE
        groups: list[ListGroupsResponse.ListedGroup] = []
        for _, shard in sorted(self.shards.items()):
            if shard.state is ShardState.LOADING:
                error = ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
            elif shard.state is ShardState.ACTIVE:
                groups.extend(list_groups(shard.groups.groups, states, types))
        return error, groups

    def describe_groups(self, group_ids: Sequence[str], include_operations: bool
                        ) -> list[DescribeGroupsResponse.DescribedGroup]:
        out = []
        for group_id in group_ids:
            shard = self._shard(group_id)
            if isinstance(shard, ErrorCode):
                out.append(DescribeGroupsResponse.DescribedGroup(
                    error_code=shard, group_id=group_id, group_state="", protocol_type="",
                    protocol_data="", members=[], authorized_operations=-2147483648))
            else:
                out.append(describe_group(shard.groups.groups, group_id, include_operations))
        return out

    async def delete_groups(self, group_ids: Sequence[str]) -> list[DeletableGroupResult]:
        by_id: dict[str, DeletableGroupResult] = {}
        by_shard: dict[int, list[str]] = {}
        for group_id in dict.fromkeys(group_ids):
            shard = self._shard(group_id)
            if isinstance(shard, ErrorCode):
                by_id[group_id] = DeletableGroupResult(group_id=group_id, error_code=shard)
            else:
                by_shard.setdefault(shard.partition, []).append(group_id)
        for partition, ids in by_shard.items():
            shard = self.shards[partition]
            result = shard.delete_groups(ids)
            code = await shard.submit(result)
            for r in result.response:
                if code != ErrorCode.NONE and r.error_code == ErrorCode.NONE:
                    r.error_code = group_error_for(code)
                by_id[r.group_id] = r
        return [by_id[g] for g in dict.fromkeys(group_ids)]


def _commit_response(request: OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse:
    return OffsetCommitResponse(topics=[
        OffsetCommitResponse.OffsetCommitResponseTopic(name=t.name, partitions=[
            OffsetCommitResponse.OffsetCommitResponsePartition(
                partition_index=p.partition_index, error_code=code)
            for p in t.partitions])
        for t in request.topics
    ])
