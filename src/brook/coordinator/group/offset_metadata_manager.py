"""Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and retention (Kafka's
OffsetMetadataManager).

A commit is validated against the group (generation, member, static fencing), turned into
OffsetCommit records and answered only after those records are appended; the offsets become
visible when the records are replayed, so what OffsetFetch returns is always what the log
holds. Each stored offset remembers the log offset of its record, so a replay never lets an
older record overwrite a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from brook.coordinator.group.classic_group import ClassicGroup, ClassicGroupState
from brook.coordinator.group.config import GroupCoordinatorConfig
from brook.coordinator.group.group_metadata_manager import GroupMetadataManager
from brook.coordinator.group.record_serde import fits_record_string, offset_commit_record
from brook.coordinator.group.request_meta import RequestMeta
from brook.coordinator.runtime import CoordinatorRecord, CoordinatorResult
from brook.env import Clock
from brook.protocol.errors import ErrorCode
from brook.protocol.group_records.offset_commit_value import OffsetCommitValue
from brook.protocol.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse
from brook.protocol.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse
from brook.protocol.messages.offset_fetch import OffsetFetchResponse

S = ClassicGroupState
FetchTopics = OffsetFetchResponse.OffsetFetchResponseTopics
FetchPartition = OffsetFetchResponse.OffsetFetchResponsePartitions
CommitTopic = OffsetCommitResponse.OffsetCommitResponseTopic
CommitPartition = OffsetCommitResponse.OffsetCommitResponsePartition


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    committed_offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp_ms: int
    expire_timestamp_ms: int
    record_offset: int

    @classmethod
    def from_record(cls, value: OffsetCommitValue, record_offset: int) -> OffsetAndMetadata:
        return cls(value.offset, value.leader_epoch, value.metadata, value.commit_timestamp,
                   value.expire_timestamp, record_offset)

    def to_record(self) -> OffsetCommitValue:
        return OffsetCommitValue(
            offset=self.committed_offset, leader_epoch=self.leader_epoch,
            metadata=self.metadata, commit_timestamp=self.commit_timestamp_ms,
            expire_timestamp=self.expire_timestamp_ms,
        )


class OffsetMetadataManager:
    """Lifecycle: one per shard, beside its GroupMetadataManager. Event-loop thread only."""

    def __init__(self, groups: GroupMetadataManager, config: GroupCoordinatorConfig,
                 clock: Clock) -> None:
        self.groups = groups
        self.config = config
        self.clock = clock
        self.offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}

    # -- OffsetCommit ----------------------------------------------------------------------
    def commit_offset(self, meta: RequestMeta, request: OffsetCommitRequest
                      ) -> CoordinatorResult[OffsetCommitResponse]:
        version = meta.api_version
        generation = request.generation_id_or_member_epoch if version >= 1 else -1
        member_id = request.member_id if version >= 1 else ""
        instance_id = request.group_instance_id if version >= 7 else None
        error = self._validate_commit(request.group_id, member_id, instance_id, generation)
        now = self.clock.now_ms()
        expire = -1
        if 2 <= version <= 4 and request.retention_time_ms != -1:
            expire = now + request.retention_time_ms
        records: list[CoordinatorRecord] = []
        topics: list[CommitTopic] = []
        for topic in request.topics:
            parts: list[CommitPartition] = []
            for p in topic.partitions:
                code = error
                metadata = p.committed_metadata or ""
                if code == ErrorCode.NONE and len(metadata) > self.config.offset_metadata_max_bytes:
                    code = ErrorCode.OFFSET_METADATA_TOO_LARGE
                if code == ErrorCode.NONE:
                    commit_ts = p.commit_timestamp if version == 1 and p.commit_timestamp != -1 \
                        else now
                    value = OffsetCommitValue(
                        offset=p.committed_offset,
                        leader_epoch=p.committed_leader_epoch if version >= 6 else -1,
                        metadata=metadata, commit_timestamp=commit_ts, expire_timestamp=expire,
                    )
                    records.append(offset_commit_record(request.group_id, topic.name,
                                                        p.partition_index, value))
                parts.append(CommitPartition(partition_index=p.partition_index, error_code=code))
            topics.append(CommitTopic(name=topic.name, partitions=parts))
        return CoordinatorResult(records, OffsetCommitResponse(topics=topics))

    def _validate_commit(self, group_id: str, member_id: str, instance_id: str | None,
                         generation: int) -> ErrorCode:
        if not group_id or not fits_record_string(group_id):
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.groups.get(group_id)
        if group is None:
            if generation >= 0:
                return ErrorCode.ILLEGAL_GENERATION
            # A consumer that assigns partitions itself (or an admin) keeps offsets here.
            group = self.groups.get_or_create_simple_group(group_id)
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation < 0 and group.is_in(S.EMPTY):
            return ErrorCode.NONE
        error = group.validate_member(member_id, instance_id)
        if error != ErrorCode.NONE:
            return error
        if generation != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.is_in(S.COMPLETING_REBALANCE):
            # The member has its new generation but not yet its assignment.
            return ErrorCode.REBALANCE_IN_PROGRESS
        self.groups.schedule_heartbeat(group, group.members[member_id])
        return ErrorCode.NONE

    # -- OffsetFetch -----------------------------------------------------------------------
    def fetch_offsets(self, group_id: str, topics: list[tuple[str, list[int]]] | None
                      ) -> list[FetchTopics]:
        """Committed offsets of the requested partitions (-1 where none), or of every
        partition the group has committed when ``topics`` is None."""
        stored = self.offsets.get(group_id, {})
        if topics is None:
            by_topic: dict[str, list[int]] = {}
            for topic, partition in sorted(stored):
                by_topic.setdefault(topic, []).append(partition)
            topics = list(by_topic.items())
        out: list[FetchTopics] = []
        for name, partitions in topics:
            parts = []
            for index in partitions:
                om = stored.get((name, index))
                parts.append(FetchPartition(
                    partition_index=index,
                    committed_offset=om.committed_offset if om else -1,
                    committed_leader_epoch=om.leader_epoch if om else -1,
                    metadata=om.metadata if om else "",
                    error_code=ErrorCode.NONE,
                ))
            out.append(FetchTopics(name=name, partitions=parts))
        return out

    # -- OffsetDelete ----------------------------------------------------------------------
    def delete_offsets(self, request: OffsetDeleteRequest
                       ) -> CoordinatorResult[OffsetDeleteResponse]:
        group = self.groups.groups.get(request.group_id)
        if group is None or group.is_in(S.DEAD):
            return CoordinatorResult([], _delete_error(ErrorCode.GROUP_ID_NOT_FOUND))
        if not group.is_empty() and group.protocol_type != "consumer":
            return CoordinatorResult([], _delete_error(ErrorCode.NON_EMPTY_GROUP))
        stored = self.offsets.get(request.group_id, {})
        records: list[CoordinatorRecord] = []
        topics = []
        for topic in request.topics:
            subscribed = group.is_subscribed_to_topic(topic.name)
            parts = []
            for p in topic.partitions:
                code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC if subscribed else ErrorCode.NONE
                if not subscribed and (topic.name, p.partition_index) in stored:
                    records.append(offset_commit_record(request.group_id, topic.name,
                                                        p.partition_index, None))
                parts.append(OffsetDeleteResponse.OffsetDeleteResponsePartition(
                    partition_index=p.partition_index, error_code=code))
            topics.append(OffsetDeleteResponse.OffsetDeleteResponseTopic(
                name=topic.name, partitions=parts))
        return CoordinatorResult(records, OffsetDeleteResponse(error_code=ErrorCode.NONE,
                                                               topics=topics))

    def delete_all_offsets(self, group_id: str) -> list[CoordinatorRecord]:
        return [offset_commit_record(group_id, topic, partition, None)
                for topic, partition in self.offsets.get(group_id, {})]

    # -- retention -------------------------------------------------------------------------
    def expired_offsets(self, group: ClassicGroup, now_ms: int) -> list[tuple[str, int]]:
        """Offsets past ``offsets.retention.minutes`` (Kafka's expiration condition).

        An explicit expire timestamp (OffsetCommit v2-v4) wins. Otherwise an empty group's
        offsets age from when it became empty (a consumer group) or from their commit (a
        group that only stores offsets); a live consumer group's offsets age from their commit
        only for topics it no longer subscribes to; other live groups keep theirs.
        """
        stored = self.offsets.get(group.group_id, {})
        retention = self.config.offsets_retention_ms
        subscribed = None if group.is_empty() else group.subscribed_topics()
        expired = []
        for (topic, partition), om in stored.items():
            if om.expire_timestamp_ms != -1:
                if now_ms >= om.expire_timestamp_ms:
                    expired.append((topic, partition))
                continue
            if group.is_empty():
                base = om.commit_timestamp_ms
                if group.protocol_type and group.state_timestamp_ms >= 0:
                    base = group.state_timestamp_ms
            elif subscribed is not None and topic not in subscribed:
                base = om.commit_timestamp_ms
            else:
                continue
            if now_ms - base >= retention:
                expired.append((topic, partition))
        return expired

    def tombstones(self, group_id: str, keys: Iterable[tuple[str, int]]
                   ) -> list[CoordinatorRecord]:
        return [offset_commit_record(group_id, t, p, None) for t, p in keys]

    def has_offsets(self, group_id: str) -> bool:
        return bool(self.offsets.get(group_id))

    # -- replay ----------------------------------------------------------------------------
    def replay(self, record_offset: int, group_id: str, topic: str, partition: int,
               value: OffsetCommitValue | None) -> None:
        stored = self.offsets.get(group_id)
        key = (topic, partition)
        current = stored.get(key) if stored is not None else None
        if current is not None and current.record_offset > record_offset:
            return
        if value is None:
            if stored is not None and current is not None:
                del stored[key]
                if not stored:
                    del self.offsets[group_id]
            return
        if stored is None:
            stored = self.offsets[group_id] = {}
        stored[key] = OffsetAndMetadata.from_record(value, record_offset)
        self.groups.get_or_create_simple_group(group_id)


def _delete_error(code: ErrorCode) -> OffsetDeleteResponse:
    return OffsetDeleteResponse(error_code=code, topics=[])
