"""ListGroups and DescribeGroups: read-only views of a shard's classic groups."""

from __future__ import annotations

from collections.abc import Mapping

from brook.coordinator.group.classic_group import ClassicGroup, ClassicGroupState
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_groups import DescribeGroupsResponse
from brook.protocol.messages.list_groups import ListGroupsResponse

S = ClassicGroupState
# READ, DELETE, DESCRIBE: everything allowed while no authorizer is configured.
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)
_NO_OPERATIONS = -2147483648


def list_groups(groups: Mapping[str, ClassicGroup], states: set[str], types: set[str]
                ) -> list[ListGroupsResponse.ListedGroup]:
    """``states``/``types`` are lower-cased filters; empty means no filter."""
    if types and "classic" not in types:
        return []
    return [
        ListGroupsResponse.ListedGroup(
            group_id=g.group_id, protocol_type=g.protocol_type or "",
            group_state=g.state.value, group_type="classic",
        )
        for g in groups.values()
        if not g.is_in(S.DEAD) and (not states or g.state.value.lower() in states)
    ]


def describe_group(groups: Mapping[str, ClassicGroup], group_id: str,
                   include_operations: bool) -> DescribeGroupsResponse.DescribedGroup:
    group = groups.get(group_id)
    ops = GROUP_AUTHORIZED_OPERATIONS if include_operations else _NO_OPERATIONS
    if group is None or group.is_in(S.DEAD):
        return DescribeGroupsResponse.DescribedGroup(
            error_code=ErrorCode.NONE, group_id=group_id, group_state=S.DEAD.value,
            protocol_type="", protocol_data="", members=[], authorized_operations=ops)
    # Only a Stable group's member metadata and assignments are meaningful; between
    # generations they are stale or not yet decided.
    stable = group.is_in(S.STABLE)
    members = [
        DescribeGroupsResponse.DescribedGroupMember(
            member_id=m.member_id, group_instance_id=m.group_instance_id,
            client_id=m.client_id, client_host=m.client_host,
            member_metadata=m.metadata(group.protocol_name) if stable else b"",
            member_assignment=m.assignment if stable else b"",
        )
        for m in group.members.values()
    ]
    return DescribeGroupsResponse.DescribedGroup(
        error_code=ErrorCode.NONE, group_id=group_id, group_state=group.state.value,
        protocol_type=group.protocol_type or "",
        protocol_data=(group.protocol_name or "") if stable else "",
        members=members, authorized_operations=ops,
    )
