"""JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers that drive rebalances."""

from __future__ import annotations

from brook.coordinator.group import RequestMeta
from brook.coordinator.group.classic_group import ClassicGroupState
from brook.protocol.errors import ErrorCode
from brook.protocol.group_records.group_metadata_key import GroupMetadataKey
from brook.protocol.messages.consumer_protocol_subscription import ConsumerProtocolSubscription
from brook.protocol.messages.leave_group import LeaveGroupRequest
from tests.support.group_context import GroupTestContext, run, settle, subscription

S = ClassicGroupState


async def stable_group(ctx: GroupTestContext, group: str = "g", **kw: object
                       ) -> tuple[str, int]:
    """One member, joined and synced: (member id, generation)."""
    join = await (await ctx.join_dynamic(group, **kw))  # type: ignore[arg-type]
    assert join.error_code == ErrorCode.NONE
    sync = await ctx.sync(group, join.member_id, join.generation_id, {join.member_id: b"A"})
    assert sync.error_code == ErrorCode.NONE and sync.assignment == b"A"
    return join.member_id, join.generation_id


def test_first_join_requires_a_member_id_then_the_member_leads_generation_one() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        first = await ctx.join("g")
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
        assert first.member_id.startswith("client-") and first.generation_id == -1
        join = await ctx.join("g", member_id=first.member_id)
        assert (join.error_code, join.generation_id, join.leader) == (
            ErrorCode.NONE, 1, first.member_id)
        assert join.protocol_name == "range" and join.protocol_type == "consumer"
        assert [m.member_id for m in join.members] == [first.member_id]
        assert ctx.group("g").state is S.COMPLETING_REBALANCE
        assert ctx.log.records == []  # nothing is written until the assignment is known

    run(body)


def test_join_before_v4_gets_an_id_at_once() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await ctx.join("g", version=3)
        assert join.error_code == ErrorCode.NONE and join.generation_id == 1

    run(body)


def test_join_validation_errors() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        assert (await ctx.join("")).error_code == ErrorCode.INVALID_GROUP_ID
        assert (await ctx.join("g", session_ms=10)).error_code == ErrorCode.INVALID_SESSION_TIMEOUT
        assert (await ctx.join("g", session_ms=1800001)).error_code == (
            ErrorCode.INVALID_SESSION_TIMEOUT)
        assert (await ctx.join("g", protocol_type="")).error_code == (
            ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        assert (await ctx.join("g", member_id="nobody")).error_code == ErrorCode.UNKNOWN_MEMBER_ID
        assert "g" not in ctx.shard.groups.groups
        await stable_group(ctx)
        other = await ctx.join("g", protocols=[("roundrobin", b"")], version=3)
        assert other.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        other = await ctx.join("g", protocol_type="connect", version=3)
        assert other.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL

    run(body)


def test_sync_writes_the_assignment_then_the_group_is_stable() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        member, generation = await stable_group(ctx)
        assert ctx.group("g").state is S.STABLE
        [(key, value)] = ctx.log.decoded()
        assert isinstance(key, GroupMetadataKey) and key.group == "g"
        assert (value.generation, value.protocol, value.leader) == (generation, "range", member)
        assert [(m.member_id, m.assignment) for m in value.members] == [(member, b"A")]
        assert ctx.heartbeat("g", member, generation) == ErrorCode.NONE
        again = await ctx.sync("g", member, generation)
        assert again.assignment == b"A"  # a Stable group answers from what it stored

    run(body)


def test_second_member_rebalances_and_followers_wait_for_the_leader() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        a, gen1 = await stable_group(ctx)
        b_join = await ctx.join_dynamic("g")
        await settle()
        assert not b_join.done()  # parked until a rejoins
        assert ctx.heartbeat("g", a, gen1) == ErrorCode.REBALANCE_IN_PROGRESS
        a_join = await ctx.join("g", member_id=a)
        b = await b_join
        assert a_join.generation_id == b.generation_id == gen1 + 1
        assert a_join.leader == a and b.leader == a
        assert {m.member_id for m in a_join.members} == {a, b.member_id} and b.members == []
        b_sync = ctx.sync("g", b.member_id, b.generation_id)
        await settle()
        assert not b_sync.done()
        a_sync = await ctx.sync("g", a, a_join.generation_id, {a: b"x", b.member_id: b"y"})
        assert a_sync.assignment == b"x" and (await b_sync).assignment == b"y"
        assert ctx.heartbeat("g", b.member_id, gen1) == ErrorCode.ILLEGAL_GENERATION

    run(body)


def test_protocol_is_chosen_by_the_members_votes() -> None:
    async def body() -> None:
        ctx = GroupTestContext(initial_rebalance_delay_ms=100)
        await ctx.start()
        rr, rg, st = ("roundrobin", b""), ("range", b""), ("sticky", b"")
        j1 = ctx.join("g", version=3, protocols=[rg, rr, st])
        j2 = ctx.join("g", version=3, protocols=[rr, rg])
        j3 = ctx.join("g", version=3, protocols=[rr, st, rg])
        await settle()
        await ctx.advance(30000)
        responses = [await j for j in (j1, j2, j3)]
        assert {r.protocol_name for r in responses} == {"roundrobin"}

    run(body)


def test_initial_delay_waits_for_more_members() -> None:
    async def body() -> None:
        ctx = GroupTestContext(initial_rebalance_delay_ms=3000)
        await ctx.start()
        a = await ctx.join_dynamic("g")
        await ctx.advance(2000)
        assert not a.done()
        b = await ctx.join_dynamic("g")
        await ctx.advance(1000)  # the delay ends, but a member arrived: wait once more
        assert not a.done() and not b.done()
        await ctx.advance(3000)
        assert (await a).generation_id == (await b).generation_id == 1

    run(body)


def test_session_timeout_removes_a_silent_member() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        a, _ = await stable_group(ctx, session_ms=6000)
        b_join = await ctx.join_dynamic("g", session_ms=10000)
        a_join = await ctx.join("g", member_id=a, session_ms=6000)
        b = await b_join
        b_sync = ctx.sync("g", b.member_id, b.generation_id)  # parked until the leader syncs
        await ctx.sync("g", a, a_join.generation_id, {a: b"1", b.member_id: b"2"})
        assert (await b_sync).assignment == b"2"
        await ctx.advance(5000)
        assert ctx.heartbeat("g", b.member_id, b.generation_id) == ErrorCode.NONE
        await ctx.advance(1500)  # a never heartbeats: its 6 s session is over
        assert a not in ctx.group("g").members
        assert ctx.heartbeat("g", a, b.generation_id) == ErrorCode.UNKNOWN_MEMBER_ID
        assert ctx.heartbeat("g", b.member_id, b.generation_id) == (
            ErrorCode.REBALANCE_IN_PROGRESS)
        alone = await ctx.join("g", member_id=b.member_id)
        assert alone.generation_id == b.generation_id + 1 and alone.leader == b.member_id
        await ctx.advance(30000)  # b stops too: the group ends up empty, and says so
        assert ctx.group("g").state is S.EMPTY
        last = ctx.log.decoded()[-1][1]
        assert last.members == [] and last.generation == alone.generation_id + 1

    run(body)


def test_static_member_restart_keeps_its_assignment_without_rebalance() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await ctx.join("g", instance_id="i1", version=9)
        old = join.member_id
        assert join.error_code == ErrorCode.NONE and old.startswith("i1-")
        await ctx.sync("g", old, join.generation_id, {old: b"mine"}, instance_id="i1")
        records = len(ctx.log.records)
        again = await ctx.join("g", instance_id="i1", version=9)
        new = again.member_id
        assert again.error_code == ErrorCode.NONE and new != old
        assert again.generation_id == join.generation_id  # no rebalance
        assert again.leader == new and again.skip_assignment
        assert ctx.group("g").state is S.STABLE
        assert len(ctx.log.records) == records + 1  # the new member id is persisted
        assert ctx.heartbeat("g", old, join.generation_id, "i1") == ErrorCode.FENCED_INSTANCE_ID
        sync = await ctx.sync("g", new, again.generation_id, instance_id="i1")
        assert sync.assignment == b"mine"

    run(body)


def test_static_leader_rejoining_on_an_old_version_is_told_it_follows() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await ctx.join("g", instance_id="i1", version=5)
        await ctx.sync("g", join.member_id, join.generation_id, {join.member_id: b"a"})
        again = await ctx.join("g", instance_id="i1", version=5)
        assert again.leader == join.member_id != again.member_id and again.members == []

    run(body)


def test_leave_group_batched_by_member_and_instance_id() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        s = await ctx.join("g", instance_id="s", version=5)
        await ctx.sync("g", s.member_id, s.generation_id, {s.member_id: b""})
        d_join = await ctx.join_dynamic("g")
        s2 = await ctx.join("g", member_id=s.member_id, instance_id="s", version=5)
        d = await d_join
        await ctx.sync("g", s2.member_id, s2.generation_id, {})
        members = [
            LeaveGroupRequest.MemberIdentity(member_id="", group_instance_id="s"),
            LeaveGroupRequest.MemberIdentity(member_id=d.member_id, group_instance_id=None),
            LeaveGroupRequest.MemberIdentity(member_id="ghost", group_instance_id=None),
            LeaveGroupRequest.MemberIdentity(member_id="wrong", group_instance_id="nobody"),
        ]
        resp = await ctx.service.leave_group(RequestMeta("c", "/h", 5),
                                             LeaveGroupRequest(group_id="g", members=members))
        assert resp.error_code == ErrorCode.NONE
        assert [m.error_code for m in resp.members] == [
            ErrorCode.NONE, ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID,
            ErrorCode.UNKNOWN_MEMBER_ID]
        assert ctx.group("g").state is S.EMPTY
        old = await ctx.service.leave_group(RequestMeta("c", "/h", 0),
                                            LeaveGroupRequest(group_id="g", member_id="x"))
        assert old.error_code == ErrorCode.UNKNOWN_MEMBER_ID

    run(body)


def test_pending_member_id_expires_and_does_not_hold_the_rebalance() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        a, gen = await stable_group(ctx)
        ghost = await ctx.join("g", session_ms=6000)  # takes an id, never comes back
        assert ghost.error_code == ErrorCode.MEMBER_ID_REQUIRED
        assert ghost.member_id in ctx.group("g").pending_members
        await ctx.advance(6000)
        assert not ctx.group("g").pending_members
        assert ctx.group("g").state is S.STABLE and ctx.heartbeat("g", a, gen) == ErrorCode.NONE

    run(body)


def test_members_that_never_sync_are_removed() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        a, _ = await stable_group(ctx, rebalance_ms=20000)
        b_join = await ctx.join_dynamic("g", rebalance_ms=20000)
        a_join = await ctx.join("g", member_id=a, rebalance_ms=20000)
        b = await b_join
        await ctx.sync("g", a, a_join.generation_id, {a: b"", b.member_id: b""})
        for _ in range(4):
            await ctx.advance(5000)
            ctx.heartbeat("g", a, a_join.generation_id)
            ctx.heartbeat("g", b.member_id, b.generation_id)  # alive, but never syncs
        assert b.member_id not in ctx.group("g").members
        assert ctx.group("g").state is S.PREPARING_REBALANCE

    run(body)


def test_failed_assignment_write_fails_the_sync_and_rebalances() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await (await ctx.join_dynamic("g"))
        ctx.log.fail_with = ErrorCode.NOT_ENOUGH_REPLICAS
        sync = await ctx.sync("g", join.member_id, join.generation_id, {join.member_id: b"a"})
        assert sync.error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
        assert ctx.group("g").state is S.PREPARING_REBALANCE
        ctx.log.fail_with = None
        rejoin = await ctx.join("g", member_id=join.member_id)
        assert rejoin.generation_id == join.generation_id + 1

    run(body)


def test_subscription_parsing_for_offset_delete() -> None:
    from brook.coordinator.group.classic_group import parse_subscription_topics

    assert parse_subscription_topics(subscription("a", "b")) == ["a", "b"]
    assert parse_subscription_topics(b"\x00") is None
    newer = b"\x00\x05" + ConsumerProtocolSubscription(topics=["x"]).to_bytes(3)
    assert parse_subscription_topics(newer) == ["x"]  # read as the newest version we know
