"""A classic-protocol group: its members, generation, chosen protocol and state (Kafka's
ClassicGroup and ClassicGroupMember).

The group is plain data plus the rules that depend only on the group itself (which state may
follow which, which protocol the members agree on, who leads). Everything that involves time,
records or responses lives in ``GroupMetadataManager``.

States::

    Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
    CompletingRebalance --leader's SyncGroup written--> Stable
    Stable / CompletingRebalance --join, leave, expiry--> PreparingRebalance
    PreparingRebalance --no members left--> Empty;   any --deleted--> Dead
"""

from __future__ import annotations

import asyncio
import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from brook.protocol.errors import ErrorCode, ProtocolDecodeError
from brook.protocol.group_records.group_metadata_value import GroupMetadataValue
from brook.protocol.messages.consumer_protocol_subscription import ConsumerProtocolSubscription
from brook.protocol.messages.join_group import JoinGroupResponse
from brook.protocol.messages.sync_group import SyncGroupResponse

CONSUMER_PROTOCOL_TYPE = "consumer"


class ClassicGroupState(Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_S = ClassicGroupState
VALID_PREVIOUS_STATES: dict[ClassicGroupState, frozenset[ClassicGroupState]] = {
    _S.EMPTY: frozenset({_S.PREPARING_REBALANCE}),
    _S.PREPARING_REBALANCE: frozenset({_S.STABLE, _S.COMPLETING_REBALANCE, _S.EMPTY}),
    _S.COMPLETING_REBALANCE: frozenset({_S.PREPARING_REBALANCE}),
    _S.STABLE: frozenset({_S.COMPLETING_REBALANCE}),
    _S.DEAD: frozenset(_S),
}


@dataclass(slots=True, eq=False)
class ClassicGroupMember:
    """One member. ``join_future``/``sync_future`` hold the member's parked JoinGroup and
    SyncGroup responses while the group rebalances."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_future: asyncio.Future[JoinGroupResponse] | None = None
    sync_future: asyncio.Future[SyncGroupResponse] | None = None
    is_new: bool = False

    @property
    def is_static(self) -> bool:
        return self.group_instance_id is not None

    @property
    def is_awaiting_join(self) -> bool:
        return self.join_future is not None and not self.join_future.done()

    @property
    def is_awaiting_sync(self) -> bool:
        return self.sync_future is not None and not self.sync_future.done()

    def metadata(self, protocol: str | None) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        return b""

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among those every member supports."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError(f"member {self.member_id} supports none of {sorted(candidates)}")

    def complete_join(self, response: JoinGroupResponse) -> None:
        fut, self.join_future = self.join_future, None
        if fut is not None and not fut.done():
            fut.set_result(response)

    def complete_sync(self, response: SyncGroupResponse) -> None:
        fut, self.sync_future = self.sync_future, None
        if fut is not None and not fut.done():
            fut.set_result(response)


@dataclass(slots=True, eq=False)
class ClassicGroup:
    """Lifecycle: created by the first JoinGroup (or an offset commit of a simple consumer, or
    a replayed record); removed when deleted or expired. Event-loop thread only."""

    group_id: str
    state: ClassicGroupState = ClassicGroupState.EMPTY
    state_timestamp_ms: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict[str, ClassicGroupMember] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)
    pending_members: set[str] = field(default_factory=set)
    pending_sync_members: set[str] = field(default_factory=set)
    supported_protocols: Counter[str] = field(default_factory=Counter)
    new_member_added: bool = False
    in_initial_delay: bool = False

    # -- state -----------------------------------------------------------------------------
    def is_in(self, *states: ClassicGroupState) -> bool:
        return self.state in states

    def can_rebalance(self) -> bool:
        return self.state in VALID_PREVIOUS_STATES[ClassicGroupState.PREPARING_REBALANCE]

    def transition_to(self, state: ClassicGroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise AssertionError(f"group {self.group_id}: {self.state.value} -> {state.value}")
        self.state = state
        self.state_timestamp_ms = now_ms

    # -- membership ------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self.members

    def add(self, member: ClassicGroupMember) -> None:
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        self.pending_members.discard(member.member_id)
        self.supported_protocols.update(name for name, _ in member.protocols)

    def remove(self, member_id: str) -> ClassicGroupMember | None:
        member = self.members.pop(member_id, None)
        self.pending_members.discard(member_id)
        self.pending_sync_members.discard(member_id)
        if member is None:
            return None
        self.supported_protocols.subtract(name for name, _ in member.protocols)
        self.supported_protocols += Counter()  # drop zero counts
        if member.group_instance_id is not None:
            if self.static_members.get(member.group_instance_id) == member_id:
                del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def update_protocols(self, member: ClassicGroupMember, protocols: list[tuple[str, bytes]]
                         ) -> None:
        self.supported_protocols.subtract(name for name, _ in member.protocols)
        member.protocols = protocols
        self.supported_protocols.update(name for name, _ in protocols)
        self.supported_protocols += Counter()

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str
                              ) -> ClassicGroupMember:
        """Give the static member ``instance_id`` a new member id, keeping its place, its
        assignment and (when it led) the leadership."""
        member = self.members.pop(old_id)
        member.member_id = new_id
        self.members[new_id] = member
        self.static_members[instance_id] = new_id
        if self.leader_id == old_id:
            self.leader_id = new_id
        if old_id in self.pending_sync_members:
            self.pending_sync_members.discard(old_id)
            self.pending_sync_members.add(new_id)
        return member

    def validate_member(self, member_id: str, instance_id: str | None) -> ErrorCode:
        """Static members are checked by instance id first: an old incarnation whose id was
        replaced is fenced rather than merely unknown."""
        if instance_id is not None:
            current = self.static_members.get(instance_id)
            if current is not None and current != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        if member_id not in self.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        return ErrorCode.NONE

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(
            m.is_awaiting_join for m in self.members.values()
        )

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # -- protocols -------------------------------------------------------------------------
    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if self.is_empty():
            return bool(protocol_type) and bool(names)
        size = len(self.members)
        return protocol_type == self.protocol_type and any(
            self.supported_protocols[n] == size for n in names
        )

    def candidate_protocols(self) -> set[str]:
        size = len(self.members)
        return {name for name, count in self.supported_protocols.items() if count == size}

    def select_protocol(self) -> str:
        """Kafka's vote: each member names its favourite among the protocols all members
        support; the most named wins, ties going to the leader's order of preference."""
        candidates = self.candidate_protocols()
        votes = Counter(m.vote(candidates) for m in self.members.values())
        leader = self.members.get(self.leader_id or "")
        order = [n for n, _ in leader.protocols] if leader is not None else sorted(votes)
        best = max(votes.values())
        for name in order:
            if votes.get(name) == best:
                return name
        return max(votes, key=lambda n: votes[n])

    def subscribed_topics(self) -> set[str] | None:
        """Topics the members subscribe to, when the group speaks the consumer protocol and
        every subscription parses; None means unknown (treated as subscribed to everything)."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            parsed = parse_subscription_topics(member.metadata(self.protocol_name))
            if parsed is None:
                return None
            topics.update(parsed)
        return topics

    def is_subscribed_to_topic(self, topic: str) -> bool:
        if self.is_empty():
            return False
        topics = self.subscribed_topics()
        return topics is None or topic in topics

    # -- generations -----------------------------------------------------------------------
    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.transition_to(ClassicGroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.leader_id = None
            self.transition_to(ClassicGroupState.EMPTY, now_ms)

    def current_member_metadata(self) -> list[JoinGroupResponse.JoinGroupResponseMember]:
        return [
            JoinGroupResponse.JoinGroupResponseMember(
                member_id=m.member_id, group_instance_id=m.group_instance_id,
                metadata=m.metadata(self.protocol_name),
            )
            for m in self.members.values()
        ]

    def to_record(self, now_ms: int, assignments: dict[str, bytes] | None = None
                  ) -> GroupMetadataValue:
        """The group as a GroupMetadataValue; ``assignments`` overrides the members' stored
        assignments (a rebalance writes the new ones before they take effect)."""
        return GroupMetadataValue(
            protocol_type=self.protocol_type or "",
            generation=self.generation_id,
            protocol=self.protocol_name,
            leader=self.leader_id,
            current_state_timestamp=self.state_timestamp_ms if self.state_timestamp_ms >= 0
            else now_ms,
            members=[
                GroupMetadataValue.MemberMetadata(
                    member_id=m.member_id, group_instance_id=m.group_instance_id,
                    client_id=m.client_id, client_host=m.client_host,
                    rebalance_timeout=m.rebalance_timeout_ms,
                    session_timeout=m.session_timeout_ms,
                    subscription=m.metadata(self.protocol_name),
                    assignment=(assignments.get(m.member_id, b"") if assignments is not None
                                else m.assignment),
                )
                for m in self.members.values()
            ],
        )

    @classmethod
    def from_record(cls, group_id: str, value: GroupMetadataValue, now_ms: int) -> ClassicGroup:
        """Rebuild a group written by ``to_record``: Empty without members, Stable with."""
        group = cls(
            group_id,
            state=ClassicGroupState.STABLE if value.members else ClassicGroupState.EMPTY,
            state_timestamp_ms=value.current_state_timestamp
            if value.current_state_timestamp >= 0 else now_ms,
            protocol_type=value.protocol_type,
            protocol_name=value.protocol,
            generation_id=value.generation,
            leader_id=value.leader if value.members else None,
        )
        for m in value.members:
            protocol = value.protocol or ""
            member = ClassicGroupMember(
                member_id=m.member_id, group_instance_id=m.group_instance_id,
                client_id=m.client_id, client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout if m.rebalance_timeout >= 0
                else m.session_timeout,
                session_timeout_ms=m.session_timeout, protocol_type=value.protocol_type,
                protocols=[(protocol, bytes(m.subscription))], assignment=bytes(m.assignment),
            )
            group.add(member)
        group.leader_id = value.leader if value.leader in group.members else group.leader_id
        return group


_INT16 = struct.Struct(">h")


def parse_subscription_topics(metadata: bytes) -> list[str] | None:
    """The topics of a ConsumerProtocolSubscription, or None when it does not parse.

    Newer versions only append fields, so a version above what we know is read as the
    highest we know (as Kafka's ConsumerProtocol does)."""
    if len(metadata) < 2:
        return None
    (version,) = _INT16.unpack_from(metadata, 0)
    if version < 0:
        return None
    version = min(version, ConsumerProtocolSubscription.MAX_VERSION)
    try:
        sub, _ = ConsumerProtocolSubscription.decode(memoryview(metadata), 2, version)
    except ProtocolDecodeError:
        return None
    return list(sub.topics)
