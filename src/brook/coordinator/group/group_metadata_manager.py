"""Classic group membership: JoinGroup, SyncGroup, Heartbeat and LeaveGroup (the classic half
of Kafka's GroupMetadataManager).

Each request is checked against the group in Kafka's order, so clients see the error codes
they are written for: a replaced static member is FENCED_INSTANCE_ID before anything else, a
member the group does not know is UNKNOWN_MEMBER_ID, a stale generation ILLEGAL_GENERATION,
and a group between generations REBALANCE_IN_PROGRESS. JoinGroup and SyncGroup return a future
that the rebalance completes; everything else answers at once.

Group metadata records are written when a generation's assignment is ready, when the group
becomes empty, and when a static member's id is replaced. They are replayed only while the
shard loads: during normal operation the in-memory group is ahead of its records.
"""

from __future__ import annotations

import asyncio
import uuid

from brook.coordinator.group.classic_group import ClassicGroup, ClassicGroupMember
from brook.coordinator.group.config import GroupCoordinatorConfig
from brook.coordinator.group.rebalance import (
    ClassicGroupRebalancer,
    S,
    join_error,
    sync_error,
)
from brook.coordinator.group.record_serde import MAX_RECORD_STRING_BYTES, fits_record_string
from brook.coordinator.group.request_meta import RequestMeta
from brook.coordinator.runtime import CoordinatorResult, CoordinatorTimer, group_error_for
from brook.env import Clock, Rng
from brook.protocol.errors import ErrorCode
from brook.protocol.group_records.group_metadata_value import GroupMetadataValue
from brook.protocol.messages.heartbeat import HeartbeatRequest, HeartbeatResponse
from brook.protocol.messages.join_group import JoinGroupRequest, JoinGroupResponse
from brook.protocol.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse
from brook.protocol.messages.sync_group import SyncGroupRequest, SyncGroupResponse

_MEMBER_ID_PREFIX_CHARS = (MAX_RECORD_STRING_BYTES - 64) // 4

JoinFuture = asyncio.Future[JoinGroupResponse]
SyncFuture = asyncio.Future[SyncGroupResponse]


class GroupMetadataManager(ClassicGroupRebalancer):
    """Lifecycle: one per ``__consumer_offsets`` partition this broker leads, built by
    replaying that partition. Event-loop thread only."""

    def __init__(self, config: GroupCoordinatorConfig, timer: CoordinatorTimer, clock: Clock,
                 rng: Rng) -> None:
        super().__init__(config, timer, clock)
        self.rng = rng

    def _new_member_id(self, prefix: str) -> str:
        # Bounded so the id always fits the group's metadata record (a client id may be long).
        return f"{prefix[:_MEMBER_ID_PREFIX_CHARS]}-{uuid.UUID(bytes=self.rng.uuid4_bytes())}"

    def get_or_create_simple_group(self, group_id: str) -> ClassicGroup:
        """The group of a consumer that only stores offsets here (no membership)."""
        group = self.groups.get(group_id)
        if group is None:
            group = ClassicGroup(group_id, state_timestamp_ms=self.clock.now_ms())
            self.groups[group_id] = group
        return group

    # -- JoinGroup -------------------------------------------------------------------------
    def classic_group_join(self, meta: RequestMeta, request: JoinGroupRequest
                           ) -> CoordinatorResult[JoinFuture]:
        fut: JoinFuture = asyncio.get_running_loop().create_future()
        error = self._join(meta, request, fut)
        if error != ErrorCode.NONE:
            fut.set_result(join_error(request.member_id, error))
        return self.result(fut)

    def _join(self, meta: RequestMeta, request: JoinGroupRequest, fut: JoinFuture) -> ErrorCode:
        version = meta.api_version
        group_id, member_id = request.group_id, request.member_id
        instance_id = request.group_instance_id if version >= 5 else None
        session = request.session_timeout_ms
        if not group_id or not fits_record_string(group_id):
            return ErrorCode.INVALID_GROUP_ID
        if not all(fits_record_string(s) for s in (
            instance_id, request.protocol_type, *(p.name for p in request.protocols)
        )):
            return ErrorCode.INVALID_REQUEST
        if not self.config.min_session_timeout_ms <= session <= self.config.max_session_timeout_ms:
            return ErrorCode.INVALID_SESSION_TIMEOUT
        group = self.groups.get(group_id)
        created = group is None
        if group is None:
            if member_id:
                return ErrorCode.UNKNOWN_MEMBER_ID
            group = self.get_or_create_simple_group(group_id)
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        protocols = [(p.name, bytes(p.metadata)) for p in request.protocols]
        if not group.supports_protocols(request.protocol_type, [n for n, _ in protocols]):
            error = ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        elif not member_id:
            error = self._join_new_member(meta, request, group, instance_id, protocols, fut)
        else:
            error = self._join_existing_member(meta, request, group, instance_id, protocols, fut)
        if created and error != ErrorCode.NONE and group.is_empty():
            del self.groups[group_id]  # created by this failed join; nothing to keep
        return error

    def _rebalance_timeout(self, meta: RequestMeta, request: JoinGroupRequest) -> int:
        if meta.api_version >= 1 and request.rebalance_timeout_ms > 0:
            return request.rebalance_timeout_ms
        return request.session_timeout_ms

    def _join_new_member(self, meta: RequestMeta, request: JoinGroupRequest, group: ClassicGroup,
                         instance_id: str | None, protocols: list[tuple[str, bytes]],
                         fut: JoinFuture) -> ErrorCode:
        if instance_id is not None and instance_id in group.static_members:
            return self._replace_static_member(meta, request, group, instance_id, protocols, fut)
        if len(group.members) >= self.config.max_group_size:
            return ErrorCode.GROUP_MAX_SIZE_REACHED
        member_id = self._new_member_id(instance_id if instance_id is not None
                                        else meta.client_id)
        if instance_id is None and meta.api_version >= 4:
            # KIP-394: hand out the id first, so a client that dies before its first join
            # completes leaves a pending id that expires instead of a member to wait for.
            group.pending_members.add(member_id)
            self.schedule_pending_member(group, member_id, request.session_timeout_ms)
            fut.set_result(join_error(member_id, ErrorCode.MEMBER_ID_REQUIRED))
            return ErrorCode.NONE
        self._add_member_and_rebalance(meta, request, group, member_id, instance_id, protocols,
                                       fut)
        return ErrorCode.NONE

    def _add_member_and_rebalance(self, meta: RequestMeta, request: JoinGroupRequest,
                                  group: ClassicGroup, member_id: str, instance_id: str | None,
                                  protocols: list[tuple[str, bytes]], fut: JoinFuture) -> None:
        member = ClassicGroupMember(
            member_id=member_id, group_instance_id=instance_id, client_id=meta.client_id,
            client_host=meta.client_host,
            rebalance_timeout_ms=self._rebalance_timeout(meta, request),
            session_timeout_ms=request.session_timeout_ms,
            protocol_type=request.protocol_type, protocols=protocols, join_future=fut,
            is_new=True,
        )
        self.timer.cancel(f"pending-{group.group_id}-{member_id}")
        group.add(member)
        if group.in_initial_delay:
            group.new_member_added = True
        self.schedule_heartbeat(group, member)
        self.maybe_prepare_rebalance(group)
        self.try_complete_join(group)

    def _join_existing_member(self, meta: RequestMeta, request: JoinGroupRequest,
                              group: ClassicGroup, instance_id: str | None,
                              protocols: list[tuple[str, bytes]], fut: JoinFuture) -> ErrorCode:
        member_id = request.member_id
        if member_id in group.pending_members and instance_id is None:
            self._add_member_and_rebalance(meta, request, group, member_id, None, protocols, fut)
            return ErrorCode.NONE
        error = group.validate_member(member_id, instance_id)
        if error != ErrorCode.NONE:
            return error
        member = group.members[member_id]
        if group.is_in(S.PREPARING_REBALANCE):
            self._update_member_and_rebalance(meta, request, group, member, protocols, fut)
        elif group.is_in(S.COMPLETING_REBALANCE):
            if member.protocols == protocols:
                # The member lost its JoinGroup response: send the same one again.
                fut.set_result(self.join_response(group, member,
                                                  member_id == group.leader_id))
            else:
                self._update_member_and_rebalance(meta, request, group, member, protocols, fut)
        elif group.is_in(S.STABLE):
            if member_id == group.leader_id or member.protocols != protocols:
                # The leader rejoins to make the group re-assign (e.g. a metadata change).
                self._update_member_and_rebalance(meta, request, group, member, protocols, fut)
            else:
                fut.set_result(self.join_response(group, member, False))
        else:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def _update_member_and_rebalance(self, meta: RequestMeta, request: JoinGroupRequest,
                                     group: ClassicGroup, member: ClassicGroupMember,
                                     protocols: list[tuple[str, bytes]], fut: JoinFuture) -> None:
        group.update_protocols(member, protocols)
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = self._rebalance_timeout(meta, request)
        member.complete_join(join_error(member.member_id, ErrorCode.REBALANCE_IN_PROGRESS))
        member.join_future = fut
        self.maybe_prepare_rebalance(group)
        self.try_complete_join(group)

    def _replace_static_member(self, meta: RequestMeta, request: JoinGroupRequest,
                               group: ClassicGroup, instance_id: str,
                               protocols: list[tuple[str, bytes]], fut: JoinFuture) -> ErrorCode:
        """A static member restarted (KIP-345): it gets a new member id and keeps its place.

        The old id is fenced at once. In a Stable group whose protocol would not change, no
        rebalance happens: the new id is written, and the member then syncs to receive the
        assignment it had. Anything else rebalances as usual.
        """
        old_id = group.static_members[instance_id]
        new_id = self._new_member_id(instance_id)
        member = group.members[old_id]
        previous = (member.protocols, member.session_timeout_ms, member.rebalance_timeout_ms)
        old_leader = group.leader_id
        member.complete_join(join_error(old_id, ErrorCode.FENCED_INSTANCE_ID))
        member.complete_sync(sync_error(ErrorCode.FENCED_INSTANCE_ID))
        self.cancel_heartbeat(group, old_id)
        group.replace_static_member(instance_id, old_id, new_id)
        group.update_protocols(member, protocols)
        member.session_timeout_ms = request.session_timeout_ms
        member.rebalance_timeout_ms = self._rebalance_timeout(meta, request)
        member.join_future = fut
        self.schedule_heartbeat(group, member)
        if group.is_in(S.STABLE) and group.select_protocol() == group.protocol_name:
            generation = group.generation_id

            def on_written(code: ErrorCode) -> None:
                if group.generation_id != generation or group.members.get(new_id) is not member:
                    return  # a rebalance took over; it answers the join
                if code != ErrorCode.NONE:
                    group.replace_static_member(instance_id, new_id, old_id)
                    group.update_protocols(member, previous[0])
                    member.session_timeout_ms, member.rebalance_timeout_ms = previous[1:]
                    self.cancel_heartbeat(group, new_id)
                    self.schedule_heartbeat(group, member)
                    member.complete_join(join_error("", group_error_for(code)))
                    return
                is_leader = group.leader_id == new_id
                if meta.api_version >= 9:
                    # Tell a returning leader it leads, but not to re-run the assignor: a
                    # stable group would ignore its new assignment anyway.
                    response = self.join_response(group, member, is_leader,
                                                  skip_assignment=is_leader)
                else:
                    # Older clients would run the assignor if they saw themselves as leader;
                    # the old leader id keeps them a follower for this generation.
                    response = self.join_response(group, member, False,
                                                  leader=old_leader or "")
                member.complete_join(response)

            self.store_group(group, on_written)
        elif group.is_in(S.STABLE, S.COMPLETING_REBALANCE):
            # The leader may have assigned to the old id: only a new generation is safe.
            self.prepare_rebalance(group)
            self.try_complete_join(group)
        else:
            self.try_complete_join(group)
        return ErrorCode.NONE

    # -- SyncGroup -------------------------------------------------------------------------
    def classic_group_sync(self, meta: RequestMeta, request: SyncGroupRequest
                           ) -> CoordinatorResult[SyncFuture]:
        fut: SyncFuture = asyncio.get_running_loop().create_future()
        error = self._sync(meta, request, fut)
        if error != ErrorCode.NONE:
            fut.set_result(sync_error(error))
        return self.result(fut)

    def _sync(self, meta: RequestMeta, request: SyncGroupRequest, fut: SyncFuture) -> ErrorCode:
        instance_id = request.group_instance_id if meta.api_version >= 3 else None
        if not request.group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(request.group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(request.member_id, instance_id)
        if error != ErrorCode.NONE:
            return error
        if request.generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if meta.api_version >= 5 and (
            (request.protocol_type is not None and request.protocol_type != group.protocol_type)
            or (request.protocol_name is not None
                and request.protocol_name != group.protocol_name)
        ):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        if group.is_in(S.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        member = group.members[request.member_id]
        group.pending_sync_members.discard(member.member_id)
        self.schedule_heartbeat(group, member)
        if group.is_in(S.STABLE):
            fut.set_result(SyncGroupResponse(
                error_code=ErrorCode.NONE, protocol_type=group.protocol_type,
                protocol_name=group.protocol_name, assignment=member.assignment))
            return ErrorCode.NONE
        if not group.is_in(S.COMPLETING_REBALANCE):
            return ErrorCode.UNKNOWN_MEMBER_ID
        member.complete_sync(sync_error(ErrorCode.REBALANCE_IN_PROGRESS))
        member.sync_future = fut
        if member.member_id == group.leader_id:
            self._store_assignment(group, {
                a.member_id: bytes(a.assignment) for a in request.assignments
            })
        return ErrorCode.NONE

    def _store_assignment(self, group: ClassicGroup, given: dict[str, bytes]) -> None:
        """Write the leader's assignment; the group turns Stable and every parked SyncGroup
        is answered only once the record is durable."""
        assignments = {mid: given.get(mid, b"") for mid in group.members}
        generation = group.generation_id

        def on_written(code: ErrorCode) -> None:
            if (self.groups.get(group.group_id) is not group
                    or group.generation_id != generation
                    or not group.is_in(S.COMPLETING_REBALANCE)):
                return
            if code != ErrorCode.NONE:
                self.reset_and_propagate_assignment_error(group, group_error_for(code))
                self.prepare_rebalance(group)
                self.try_complete_join(group)
                return
            for mid, member in group.members.items():
                member.assignment = assignments.get(mid, b"")
            self.propagate_assignment(group)
            group.transition_to(S.STABLE, self.clock.now_ms())

        self.store_group(group, on_written, assignments)

    # -- Heartbeat -------------------------------------------------------------------------
    def classic_group_heartbeat(self, meta: RequestMeta, request: HeartbeatRequest
                                ) -> CoordinatorResult[HeartbeatResponse]:
        return self.result(HeartbeatResponse(error_code=self._heartbeat(meta, request)))

    def _heartbeat(self, meta: RequestMeta, request: HeartbeatRequest) -> ErrorCode:
        instance_id = request.group_instance_id if meta.api_version >= 3 else None
        if not request.group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(request.group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if group.is_in(S.DEAD):
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(request.member_id, instance_id)
        if error != ErrorCode.NONE:
            return error
        if request.generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        self.schedule_heartbeat(group, group.members[request.member_id])
        if group.is_in(S.PREPARING_REBALANCE):
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    # -- LeaveGroup ------------------------------------------------------------------------
    def classic_group_leave(self, meta: RequestMeta, request: LeaveGroupRequest
                            ) -> CoordinatorResult[LeaveGroupResponse]:
        if meta.api_version >= 3:
            identities = [(m.member_id, m.group_instance_id) for m in request.members]
        else:
            identities = [(request.member_id, None)]
        group = self.groups.get(request.group_id)
        top = ErrorCode.NONE
        results: list[LeaveGroupResponse.MemberResponse] = []
        if not request.group_id:
            top = ErrorCode.INVALID_GROUP_ID
        elif group is not None and group.is_in(S.DEAD):
            top = ErrorCode.COORDINATOR_NOT_AVAILABLE
        else:
            for member_id, instance_id in identities:
                code = (self._leave(group, member_id, instance_id) if group is not None
                        else ErrorCode.UNKNOWN_MEMBER_ID)
                results.append(LeaveGroupResponse.MemberResponse(
                    member_id=member_id, group_instance_id=instance_id, error_code=code))
        if meta.api_version < 3:
            # Members exists from v3; older versions answer with the top-level code alone.
            top = ErrorCode(results[0].error_code) if results else top
            results = []
        return self.result(LeaveGroupResponse(error_code=top, members=results))

    def _leave(self, group: ClassicGroup, member_id: str, instance_id: str | None) -> ErrorCode:
        if instance_id is not None:
            current = group.static_members.get(instance_id)
            if current is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if member_id and member_id != current:
                return ErrorCode.FENCED_INSTANCE_ID
            member_id = current
        elif member_id in group.pending_members:
            group.pending_members.discard(member_id)
            self.timer.cancel(f"pending-{group.group_id}-{member_id}")
            self.try_complete_join(group)
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        self.remove_member_and_update_group(group, member)
        return ErrorCode.NONE

    # -- deletion and replay ---------------------------------------------------------------
    def validate_delete_group(self, group_id: str) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        group = self.groups.get(group_id)
        if group is None or group.is_in(S.DEAD):
            return ErrorCode.GROUP_ID_NOT_FOUND
        if not group.is_in(S.EMPTY):
            return ErrorCode.NON_EMPTY_GROUP
        return ErrorCode.NONE

    def delete_group(self, group_id: str) -> None:
        """Mark the group Dead and forget it (the caller writes the tombstones)."""
        group = self.groups.pop(group_id, None)
        if group is not None:
            self.timer.cancel(f"join-{group_id}")
            group.transition_to(S.DEAD, self.clock.now_ms())

    def replay_group_metadata(self, group_id: str, value: GroupMetadataValue | None) -> None:
        if value is None:
            self.groups.pop(group_id, None)
            return
        self.groups[group_id] = ClassicGroup.from_record(group_id, value, self.clock.now_ms())
