"""The classic protocol's rebalance machinery: timers, member removal, join completion.

``ClassicGroupRebalancer`` is the part of Kafka's GroupMetadataManager that moves a group
between generations. The request handlers in ``group_metadata_manager`` call it; it also owns
every deadline of the classic protocol, each a keyed ``CoordinatorTimer`` entry:

* ``heartbeat-<group>-<member>``: the member's session; expiry removes it and rebalances.
* ``pending-<group>-<member>``: a member id handed out with MEMBER_ID_REQUIRED and not yet
  used; expiry forgets it so the rebalance need not wait for it.
* ``join-<group>``: the rebalance deadline (or the initial delay of an empty group, extended
  while new members keep arriving, up to the rebalance timeout).
* ``sync-<group>``: members that got a JoinGroup response must send SyncGroup before the
  rebalance timeout, or they are removed and the group rebalances again.

Records the machinery emits (the group's metadata when it becomes empty, or when the leader's
assignment is ready) are buffered and handed out with the result of whichever operation or
timer caused them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from brook.coordinator.group.classic_group import (
    ClassicGroup,
    ClassicGroupMember,
    ClassicGroupState,
)
from brook.coordinator.group.config import GroupCoordinatorConfig
from brook.coordinator.group.record_serde import group_metadata_record
from brook.coordinator.runtime import CoordinatorRecord, CoordinatorResult, CoordinatorTimer
from brook.env import Clock
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.join_group import JoinGroupResponse
from brook.protocol.messages.sync_group import SyncGroupResponse

log = logging.getLogger(__name__)
T = TypeVar("T")

S = ClassicGroupState


def join_error(member_id: str, code: ErrorCode) -> JoinGroupResponse:
    return JoinGroupResponse(error_code=code, generation_id=-1, protocol_type=None,
                             protocol_name=None, leader="", member_id=member_id, members=[])


def sync_error(code: ErrorCode) -> SyncGroupResponse:
    return SyncGroupResponse(error_code=code, protocol_type=None, protocol_name=None,
                             assignment=b"")


class ClassicGroupRebalancer:
    """Lifecycle: one per shard. Event-loop thread only; every method runs to completion
    without awaiting, so a group never changes under an operation's feet."""

    def __init__(self, config: GroupCoordinatorConfig, timer: CoordinatorTimer, clock: Clock):
        self.config = config
        self.timer = timer
        self.clock = clock
        self.groups: dict[str, ClassicGroup] = {}
        self._records: list[CoordinatorRecord] = []
        self._on_written: list[Callable[[ErrorCode], None]] = []

    # -- emitted records -------------------------------------------------------------------
    def emit(self, record: CoordinatorRecord,
             on_written: Callable[[ErrorCode], None] | None = None) -> None:
        self._records.append(record)
        if on_written is not None:
            self._on_written.append(on_written)

    def result(self, response: T) -> CoordinatorResult[T]:
        records, self._records = self._records, []
        callbacks, self._on_written = self._on_written, []
        return CoordinatorResult(records, response, callbacks)

    def store_group(self, group: ClassicGroup,
                    on_written: Callable[[ErrorCode], None] | None = None,
                    assignments: dict[str, bytes] | None = None) -> None:
        value = group.to_record(self.clock.now_ms(), assignments)
        self.emit(group_metadata_record(group.group_id, value), on_written)

    # -- sessions --------------------------------------------------------------------------
    def schedule_heartbeat(self, group: ClassicGroup, member: ClassicGroupMember) -> None:
        gid, mid = group.group_id, member.member_id
        self.timer.schedule(f"heartbeat-{gid}-{mid}", member.session_timeout_ms,
                            lambda: self._on_heartbeat_expired(gid, mid))

    def cancel_heartbeat(self, group: ClassicGroup, member_id: str) -> None:
        self.timer.cancel(f"heartbeat-{group.group_id}-{member_id}")

    def _on_heartbeat_expired(self, gid: str, mid: str) -> CoordinatorResult[None] | None:
        group = self.groups.get(gid)
        member = group.members.get(mid) if group is not None else None
        if group is None or member is None:
            return None
        if member.is_awaiting_join or member.is_awaiting_sync:
            # Parked in a JoinGroup or SyncGroup: the rebalance deadlines bound that wait.
            self.schedule_heartbeat(group, member)
            return None
        log.info("group %s: member %s session timed out after %d ms", gid, mid,
                 member.session_timeout_ms)
        self.remove_member_and_update_group(group, member)
        return self.result(None)

    def schedule_pending_member(self, group: ClassicGroup, member_id: str, timeout_ms: int
                                ) -> None:
        gid = group.group_id
        self.timer.schedule(f"pending-{gid}-{member_id}", timeout_ms,
                            lambda: self._on_pending_member_expired(gid, member_id))

    def _on_pending_member_expired(self, gid: str, mid: str) -> CoordinatorResult[None] | None:
        group = self.groups.get(gid)
        if group is None or mid not in group.pending_members:
            return None
        group.pending_members.discard(mid)
        self.try_complete_join(group)
        return self.result(None)

    # -- membership changes ----------------------------------------------------------------
    def remove_member(self, group: ClassicGroup, member: ClassicGroupMember,
                      code: ErrorCode = ErrorCode.UNKNOWN_MEMBER_ID) -> None:
        """Drop one member, answering whatever it has parked with ``code``."""
        self.cancel_heartbeat(group, member.member_id)
        member.complete_join(join_error(member.member_id, code))
        member.complete_sync(sync_error(code))
        group.remove(member.member_id)

    def remove_member_and_update_group(self, group: ClassicGroup, member: ClassicGroupMember
                                       ) -> None:
        self.remove_member(group, member)
        if group.is_in(S.STABLE, S.COMPLETING_REBALANCE):
            self.prepare_rebalance(group)
        self.try_complete_join(group)

    def maybe_prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.can_rebalance():
            self.prepare_rebalance(group)

    def prepare_rebalance(self, group: ClassicGroup) -> None:
        """Enter PreparingRebalance: every member must rejoin before the deadline."""
        if group.is_in(S.COMPLETING_REBALANCE):
            self.reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self.timer.cancel(f"sync-{group.group_id}")
        initial = group.is_in(S.EMPTY)
        group.transition_to(S.PREPARING_REBALANCE, self.clock.now_ms())
        gid = group.group_id
        delay = self.config.initial_rebalance_delay_ms
        if initial and delay > 0:
            # An empty group waits a little for more members, so that a whole fleet starting
            # at once settles in one rebalance instead of one per member.
            group.in_initial_delay = True
            group.new_member_added = False
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self.timer.schedule(f"join-{gid}", delay,
                                lambda: self._on_initial_delay_expired(gid, remaining))
            return
        group.in_initial_delay = False
        self.timer.schedule(f"join-{gid}", group.rebalance_timeout_ms(),
                            lambda: self._on_join_expired(gid))

    def _on_initial_delay_expired(self, gid: str, remaining_ms: int
                                  ) -> CoordinatorResult[None] | None:
        group = self.groups.get(gid)
        if group is None or not group.is_in(S.PREPARING_REBALANCE):
            return None
        if group.new_member_added and remaining_ms > 0:
            group.new_member_added = False
            delay = min(self.config.initial_rebalance_delay_ms, remaining_ms)
            self.timer.schedule(f"join-{gid}", delay,
                                lambda: self._on_initial_delay_expired(gid, remaining_ms - delay))
            return None
        group.in_initial_delay = False
        self.complete_join(group)
        return self.result(None)

    def _on_join_expired(self, gid: str) -> CoordinatorResult[None] | None:
        group = self.groups.get(gid)
        if group is None or not group.is_in(S.PREPARING_REBALANCE):
            return None
        self.complete_join(group)
        return self.result(None)

    def try_complete_join(self, group: ClassicGroup) -> None:
        if (group.is_in(S.PREPARING_REBALANCE) and not group.in_initial_delay
                and group.has_all_members_joined()):
            self.complete_join(group)

    def complete_join(self, group: ClassicGroup) -> None:
        """End PreparingRebalance: drop dynamic members that did not rejoin, start the next
        generation and answer every parked JoinGroup (the leader gets the members)."""
        if not group.is_in(S.PREPARING_REBALANCE):
            return
        gid = group.group_id
        self.timer.cancel(f"join-{gid}")
        group.in_initial_delay = False
        for member in list(group.members.values()):
            if not member.is_awaiting_join and not member.is_static:
                self.remove_member(group, member)
        if group.is_empty():
            group.init_next_generation(self.clock.now_ms())
            self.store_group(group)
            return
        leader = group.members.get(group.leader_id or "")
        if leader is None or not leader.is_awaiting_join:
            joined = [m.member_id for m in group.members.values() if m.is_awaiting_join]
            if joined:
                group.leader_id = joined[0]
        group.init_next_generation(self.clock.now_ms())
        group.pending_sync_members = set()
        for member in group.members.values():
            if not member.is_awaiting_join:
                continue
            is_leader = member.member_id == group.leader_id
            group.pending_sync_members.add(member.member_id)
            member.is_new = False
            member.complete_join(self.join_response(group, member, is_leader))
            self.schedule_heartbeat(group, member)
        generation = group.generation_id
        self.timer.schedule(f"sync-{gid}", group.rebalance_timeout_ms(),
                            lambda: self._on_sync_expired(gid, generation))

    def join_response(self, group: ClassicGroup, member: ClassicGroupMember, with_members: bool,
                      skip_assignment: bool = False, leader: str | None = None
                      ) -> JoinGroupResponse:
        return JoinGroupResponse(
            error_code=ErrorCode.NONE, generation_id=group.generation_id,
            protocol_type=group.protocol_type, protocol_name=group.protocol_name,
            leader=leader if leader is not None else (group.leader_id or ""),
            skip_assignment=skip_assignment, member_id=member.member_id,
            members=group.current_member_metadata() if with_members else [],
        )

    def _on_sync_expired(self, gid: str, generation: int) -> CoordinatorResult[None] | None:
        group = self.groups.get(gid)
        if (group is None or group.generation_id != generation
                or not group.pending_sync_members
                or not group.is_in(S.COMPLETING_REBALANCE, S.STABLE)):
            return None
        log.info("group %s: members %s sent no SyncGroup for generation %d", gid,
                 sorted(group.pending_sync_members), generation)
        for mid in list(group.pending_sync_members):
            member = group.members.get(mid)
            if member is not None:
                self.remove_member(group, member)
        group.pending_sync_members.clear()
        self.prepare_rebalance(group)
        self.try_complete_join(group)
        return self.result(None)

    def reset_and_propagate_assignment_error(self, group: ClassicGroup, code: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
            member.complete_sync(sync_error(code))

    def propagate_assignment(self, group: ClassicGroup) -> None:
        for member in group.members.values():
            member.complete_sync(SyncGroupResponse(
                error_code=ErrorCode.NONE, protocol_type=group.protocol_type,
                protocol_name=group.protocol_name, assignment=member.assignment,
            ))

    # -- shard lifecycle -------------------------------------------------------------------
    def on_loaded(self) -> None:
        """Members recorded before a restart keep their session: if they heartbeat within it
        (with the generation they know) nothing rebalances."""
        for group in self.groups.values():
            for member in group.members.values():
                self.schedule_heartbeat(group, member)

    def on_unloaded(self) -> None:
        for group in self.groups.values():
            for member in group.members.values():
                member.complete_join(join_error(member.member_id, ErrorCode.NOT_COORDINATOR))
                member.complete_sync(sync_error(ErrorCode.NOT_COORDINATOR))
        self.groups.clear()
