"""One ``__consumer_offsets`` partition's worth of groups (Kafka's GroupCoordinatorShard).

The shard pairs the group and offset state machines, replays records into them, and owns the
partition's write queue: every record batch an operation or a timer produces is appended in
the order it was produced, one append at a time, then replayed, then its ``on_written``
callbacks run. Because operations run without awaiting and enqueue synchronously, the log
order is the order in which the state machines decided.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

from brook.coordinator.group.classic_group import ClassicGroupState
from brook.coordinator.group.config import GroupCoordinatorConfig
from brook.coordinator.group.group_metadata_manager import GroupMetadataManager
from brook.coordinator.group.offset_metadata_manager import OffsetMetadataManager
from brook.coordinator.group.record_serde import (
    RecordSerdeError,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    group_metadata_record,
)
from brook.coordinator.runtime import (
    CoordinatorRecord,
    CoordinatorResult,
    CoordinatorTimer,
    CoordinatorWriteError,
    PartitionWriter,
)
from brook.env import Clock, Rng
from brook.protocol.errors import ErrorCode
from brook.protocol.group_records.group_metadata_key import GroupMetadataKey
from brook.protocol.group_records.offset_commit_key import OffsetCommitKey
from brook.protocol.messages.delete_groups import DeleteGroupsResponse

log = logging.getLogger(__name__)

TimerFactory = Callable[[Callable[[CoordinatorResult[None]], object]], CoordinatorTimer]
_CLEANUP_KEY = "cleanup-group-metadata"


class ShardState(Enum):
    LOADING = "loading"
    ACTIVE = "active"
    CLOSED = "closed"


class GroupCoordinatorShard:
    """Lifecycle: created LOADING when this broker becomes the partition's leader, ACTIVE once
    the log is replayed, CLOSED when leadership moves (parked requests get NOT_COORDINATOR).
    Event-loop thread only."""

    def __init__(self, topic: str, partition: int, config: GroupCoordinatorConfig,
                 writer: PartitionWriter, clock: Clock, rng: Rng,
                 timer_factory: TimerFactory) -> None:
        self.topic = topic
        self.partition = partition
        self.config = config
        self.clock = clock
        self.state = ShardState.LOADING
        self._writer = writer
        self.timer = timer_factory(self.submit)
        self.groups = GroupMetadataManager(config, self.timer, clock, rng)
        self.offsets = OffsetMetadataManager(self.groups, config, clock)
        self._queue: deque[tuple[CoordinatorResult[Any], asyncio.Future[ErrorCode]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    # -- replay ----------------------------------------------------------------------------
    def replay(self, offset: int, key: bytes | None, value: bytes | None) -> None:
        """Apply one record. Group metadata is applied only while loading: afterwards the
        in-memory group already reflects what its records say (and more)."""
        if key is None:
            return
        try:
            decoded = decode_key(key)
            if isinstance(decoded, OffsetCommitKey):
                commit = decode_offset_commit_value(value) if value is not None else None
                self.offsets.replay(offset, decoded.group, decoded.topic, decoded.partition,
                                    commit)
            elif isinstance(decoded, GroupMetadataKey) and self.state is ShardState.LOADING:
                group = decode_group_metadata_value(value) if value is not None else None
                self.groups.replay_group_metadata(decoded.group, group)
        except RecordSerdeError as exc:
            log.warning("%s-%d: skipping unreadable record at offset %d: %s",
                        self.topic, self.partition, offset, exc)

    def on_loaded(self) -> None:
        self.state = ShardState.ACTIVE
        self.groups.on_loaded()
        self._schedule_cleanup()

    def close(self) -> None:
        self.state = ShardState.CLOSED
        self.timer.cancel_all()
        self.groups.on_unloaded()
        self.offsets.offsets.clear()
        while self._queue:
            result, fut = self._queue.popleft()
            self._settle(result, fut, ErrorCode.NOT_COORDINATOR)
        if self._drainer is not None:
            self._drainer.cancel()

    # -- writes ----------------------------------------------------------------------------
    def submit(self, result: CoordinatorResult[Any]) -> asyncio.Future[ErrorCode]:
        """Queue ``result``'s records; the future resolves to the append's error code after
        the records are replayed and ``on_written`` has run."""
        fut: asyncio.Future[ErrorCode] = asyncio.get_running_loop().create_future()
        if not result.records:
            self._settle(result, fut, ErrorCode.NONE)
            return fut
        if self.state is ShardState.CLOSED:
            self._settle(result, fut, ErrorCode.NOT_COORDINATOR)
            return fut
        self._queue.append((result, fut))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return fut

    async def _drain(self) -> None:
        while self._queue and self.state is not ShardState.CLOSED:
            result, fut = self._queue.popleft()
            records = result.records
            try:
                last = await self._writer.append(self.topic, self.partition, records)
            except CoordinatorWriteError as exc:
                log.warning("%s-%d: append of %d group records failed: %s", self.topic,
                            self.partition, len(records), exc.code.name)
                self._settle(result, fut, exc.code)
                continue
            first = last - len(records) + 1
            for i, (key, value) in enumerate(records):
                self.replay(first + i, key, value)
            self._settle(result, fut, ErrorCode.NONE)

    def _settle(self, result: CoordinatorResult[Any], fut: asyncio.Future[ErrorCode],
                code: ErrorCode) -> None:
        for callback in result.on_written:
            callback(code)
        if not fut.done():
            fut.set_result(code)
        # Callbacks may have moved groups on (a failed write starts a new rebalance, which
        # may leave a group empty): whatever they emitted is queued behind.
        follow_up = self.groups.result(None)
        if follow_up.records or follow_up.on_written:
            self.submit(follow_up)

    # -- operations spanning groups and offsets --------------------------------------------
    def delete_groups(self, group_ids: list[str]
                      ) -> CoordinatorResult[list[DeleteGroupsResponse.DeletableGroupResult]]:
        records: list[CoordinatorRecord] = []
        results = []
        for group_id in group_ids:
            code = self.groups.validate_delete_group(group_id)
            if code == ErrorCode.NONE:
                records.extend(self.offsets.delete_all_offsets(group_id))
                records.append(group_metadata_record(group_id, None))
                self.groups.delete_group(group_id)
            results.append(DeleteGroupsResponse.DeletableGroupResult(group_id=group_id,
                                                                     error_code=code))
        return CoordinatorResult(records, results)

    def cleanup_group_metadata(self) -> CoordinatorResult[None]:
        """Expire old offsets, and forget empty groups that have none left."""
        now = self.clock.now_ms()
        records: list[CoordinatorRecord] = []
        for group in list(self.groups.groups.values()):
            expired = self.offsets.expired_offsets(group, now)
            records.extend(self.offsets.tombstones(group.group_id, expired))
            remaining = len(self.offsets.offsets.get(group.group_id, {})) - len(expired)
            if (group.state is ClassicGroupState.EMPTY and not group.pending_members
                    and remaining == 0):
                records.append(group_metadata_record(group.group_id, None))
                self.groups.delete_group(group.group_id)
        if records:
            log.info("%s-%d: expired %d offsets and groups", self.topic, self.partition,
                     len(records))
        return CoordinatorResult(records, None)

    def _schedule_cleanup(self) -> None:
        def run() -> CoordinatorResult[None]:
            self._schedule_cleanup()
            return self.cleanup_group_metadata()

        self.timer.schedule(_CLEANUP_KEY, self.config.offsets_retention_check_interval_ms, run)
