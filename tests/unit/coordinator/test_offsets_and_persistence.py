"""OffsetCommit/OffsetFetch/OffsetDelete, DeleteGroups, retention, and reloading from the log."""

from __future__ import annotations

import struct

from brook.coordinator.group import RequestMeta, partition_for
from brook.coordinator.group.classic_group import ClassicGroupState
from brook.coordinator.group.record_serde import group_metadata_key, offset_commit_key
from brook.protocol.errors import ErrorCode
from brook.protocol.group_records.offset_commit_key import OffsetCommitKey
from brook.protocol.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse
from brook.protocol.messages.offset_delete import OffsetDeleteRequest
from tests.support.group_context import FakeLog, GroupTestContext, run, settle, subscription

S = ClassicGroupState
P = OffsetCommitRequest.OffsetCommitRequestPartition


def commit_request(group: str, offsets: dict[tuple[str, int], int], generation: int = -1,
                   member: str = "", metadata: str | None = "m", retention_ms: int = -1
                   ) -> OffsetCommitRequest:
    topics: dict[str, list[P]] = {}
    for (topic, partition), offset in offsets.items():
        topics.setdefault(topic, []).append(P(partition_index=partition, committed_offset=offset,
                                              committed_leader_epoch=3,
                                              committed_metadata=metadata))
    return OffsetCommitRequest(
        group_id=group, generation_id_or_member_epoch=generation, member_id=member,
        retention_time_ms=retention_ms,
        topics=[OffsetCommitRequest.OffsetCommitRequestTopic(name=t, partitions=ps)
                for t, ps in topics.items()],
    )


async def commit(ctx: GroupTestContext, request: OffsetCommitRequest, version: int = 8
                 ) -> list[int]:
    resp: OffsetCommitResponse = await ctx.service.commit_offsets(
        RequestMeta("c", "/h", version), request)
    return [p.error_code for t in resp.topics for p in t.partitions]


def fetched(ctx: GroupTestContext, group: str, topics: list[tuple[str, list[int]]] | None = None
            ) -> dict[tuple[str, int], tuple[int, int, str | None]]:
    error, found = ctx.service.fetch_offsets(group, topics)
    assert error == ErrorCode.NONE
    return {(t.name, p.partition_index): (p.committed_offset, p.committed_leader_epoch,
                                          p.metadata)
            for t in found for p in t.partitions}


def test_records_use_kafkas_key_layout() -> None:
    key = offset_commit_key("g", "t", 7)
    assert key == struct.pack(">hh", 1, 1) + b"g" + struct.pack(">h", 1) + b"t" + struct.pack(
        ">i", 7)
    assert group_metadata_key("grp") == struct.pack(">hh", 2, 3) + b"grp"


def test_group_placement_matches_kafkas_string_hash() -> None:
    # "hello".hashCode() == 99162322 and "abc".hashCode() == 96354 in Java.
    assert partition_for("hello", 50) == 99162322 % 50
    assert partition_for("abc", 50) == 96354 % 50
    assert partition_for("polygenelubricants", 50) == 0  # hashCode is Integer.MIN_VALUE


def test_simple_consumer_commits_then_fetches() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        codes = await commit(ctx, commit_request("g", {("t", 0): 5, ("t", 1): 9, ("u", 0): 1}))
        assert codes == [ErrorCode.NONE] * 3
        assert ctx.group("g").state is S.EMPTY  # created to hold the offsets
        [(key, value), *_] = ctx.log.decoded()
        assert isinstance(key, OffsetCommitKey) and (key.group, key.topic, key.partition) == (
            "g", "t", 0)
        assert (value.offset, value.leader_epoch, value.metadata) == (5, 3, "m")
        assert fetched(ctx, "g", [("t", [0, 1, 2])]) == {
            ("t", 0): (5, 3, "m"), ("t", 1): (9, 3, "m"), ("t", 2): (-1, -1, "")}
        assert set(fetched(ctx, "g")) == {("t", 0), ("t", 1), ("u", 0)}
        assert fetched(ctx, "other") == {}

    run(body)


def test_commit_checks_member_and_generation() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await (await ctx.join_dynamic("g"))
        member, gen = join.member_id, join.generation_id
        offsets = {("t", 0): 1}
        # Between JoinGroup and the assignment, a commit is told to wait for the rebalance.
        assert await commit(ctx, commit_request("g", offsets, gen, member)) == [
            ErrorCode.REBALANCE_IN_PROGRESS]
        await ctx.sync("g", member, gen, {member: b""})
        assert await commit(ctx, commit_request("g", offsets, gen, member)) == [ErrorCode.NONE]
        assert await commit(ctx, commit_request("g", offsets, gen + 1, member)) == [
            ErrorCode.ILLEGAL_GENERATION]
        assert await commit(ctx, commit_request("g", offsets, gen, "ghost")) == [
            ErrorCode.UNKNOWN_MEMBER_ID]
        assert await commit(ctx, commit_request("g", offsets)) == [ErrorCode.UNKNOWN_MEMBER_ID]
        assert await commit(ctx, commit_request("new", offsets, 3, "x")) == [
            ErrorCode.ILLEGAL_GENERATION]
        assert await commit(ctx, commit_request("", offsets)) == [ErrorCode.INVALID_GROUP_ID]
        big = commit_request("g2", offsets, metadata="x" * 4097)
        assert await commit(ctx, big) == [ErrorCode.OFFSET_METADATA_TOO_LARGE]

    run(body)


def test_failed_append_is_not_acknowledged_nor_visible() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        ctx.log.fail_with = ErrorCode.NOT_ENOUGH_REPLICAS
        assert await commit(ctx, commit_request("g", {("t", 0): 1})) == [
            ErrorCode.COORDINATOR_NOT_AVAILABLE]
        ctx.log.fail_with = ErrorCode.RECORD_LIST_TOO_LARGE
        assert await commit(ctx, commit_request("g", {("t", 0): 1})) == [
            ErrorCode.INVALID_COMMIT_OFFSET_SIZE]
        assert fetched(ctx, "g", [("t", [0])]) == {("t", 0): (-1, -1, "")}

    run(body)


def test_retention_expires_offsets_of_empty_groups_then_the_group() -> None:
    async def body() -> None:
        ctx = GroupTestContext(offsets_retention_ms=60_000,
                               offsets_retention_check_interval_ms=10_000)
        await ctx.start()
        await commit(ctx, commit_request("g", {("t", 0): 1}))
        # v2 with an explicit retention: stored with an expire timestamp (value version 1).
        await commit(ctx, commit_request("h", {("t", 0): 1}, retention_ms=15_000), version=2)
        assert ctx.log.records[-1][2][:2] == b"\x00\x01"
        await ctx.advance(20_000)
        assert fetched(ctx, "h", [("t", [0])])[("t", 0)][0] == -1
        assert "h" not in ctx.shard.groups.groups
        assert fetched(ctx, "g", [("t", [0])])[("t", 0)][0] == 1
        await ctx.advance(50_000)
        assert fetched(ctx, "g", [("t", [0])])[("t", 0)][0] == -1
        assert "g" not in ctx.shard.groups.groups
        tombstones = [k for k, v in ctx.log.decoded() if v is None]
        assert len(tombstones) == 4  # two offsets, two groups

    run(body)


def test_offset_delete_refuses_subscribed_topics() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await (await ctx.join_dynamic("g", protocols=[("range", subscription("t"))]))
        await ctx.sync("g", join.member_id, join.generation_id, {})
        await commit(ctx, commit_request("g", {("t", 0): 1, ("u", 0): 2}, join.generation_id,
                                         join.member_id))
        req = OffsetDeleteRequest(group_id="g", topics=[
            OffsetDeleteRequest.OffsetDeleteRequestTopic(name=n, partitions=[
                OffsetDeleteRequest.OffsetDeleteRequestPartition(partition_index=0)])
            for n in ("t", "u")])
        resp = await ctx.service.delete_offsets(req)
        assert resp.error_code == ErrorCode.NONE
        assert [t.partitions[0].error_code for t in resp.topics] == [
            ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC, ErrorCode.NONE]
        assert set(fetched(ctx, "g")) == {("t", 0)}
        missing = await ctx.service.delete_offsets(OffsetDeleteRequest(group_id="nope"))
        assert missing.error_code == ErrorCode.GROUP_ID_NOT_FOUND

    run(body)


def test_delete_groups() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        await (await ctx.join_dynamic("live"))
        await commit(ctx, commit_request("idle", {("t", 0): 1}))
        results = await ctx.service.delete_groups(["live", "idle", "none", "idle"])
        assert [(r.group_id, r.error_code) for r in results] == [
            ("live", ErrorCode.NON_EMPTY_GROUP), ("idle", ErrorCode.NONE),
            ("none", ErrorCode.GROUP_ID_NOT_FOUND)]
        assert fetched(ctx, "idle") == {}
        assert [g.group_id for g in ctx.service.list_groups(set(), set())[1]] == ["live"]
        [desc] = ctx.service.describe_groups(["idle"], False)
        assert desc.group_state == "Dead" and desc.error_code == ErrorCode.NONE

    run(body)


def test_list_and_describe() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await (await ctx.join_dynamic("g"))
        await ctx.sync("g", join.member_id, join.generation_id, {join.member_id: b"asg"})
        await commit(ctx, commit_request("simple", {("t", 0): 1}))
        _, groups = ctx.service.list_groups(set(), set())
        assert {(g.group_id, g.group_state, g.protocol_type) for g in groups} == {
            ("g", "Stable", "consumer"), ("simple", "Empty", "")}
        _, stable = ctx.service.list_groups({"stable"}, set())
        assert [g.group_id for g in stable] == ["g"]
        assert ctx.service.list_groups(set(), {"consumer"})[1] == []
        [desc] = ctx.service.describe_groups(["g"], True)
        assert (desc.group_state, desc.protocol_type, desc.protocol_data) == (
            "Stable", "consumer", "range")
        [m] = desc.members
        assert (m.member_id, m.client_host, m.member_assignment) == (
            join.member_id, "/127.0.0.1", b"asg")
        assert m.member_metadata == subscription("t")

    run(body)


def test_reload_restores_offsets_and_groups_and_members_keep_their_session() -> None:
    async def body() -> None:
        ctx = GroupTestContext()
        await ctx.start()
        join = await (await ctx.join_dynamic("g", session_ms=6000))
        await ctx.sync("g", join.member_id, join.generation_id, {join.member_id: b"asg"})
        await commit(ctx, commit_request("g", {("t", 0): 42}, join.generation_id,
                                         join.member_id))
        await commit(ctx, commit_request("gone", {("t", 0): 1}))
        await ctx.service.delete_groups(["gone"])

        again = GroupTestContext(log=FakeLog(records=list(ctx.log.records)), clock=ctx.clock)
        again.service.on_elected(0)
        assert again.heartbeat("g", join.member_id, join.generation_id) == (
            ErrorCode.COORDINATOR_LOAD_IN_PROGRESS)
        await settle()
        assert fetched(again, "g", [("t", [0])]) == {("t", 0): (42, 3, "m")}
        assert "gone" not in again.shard.groups.groups
        group = again.group("g")
        assert (group.state, group.generation_id, group.leader_id) == (
            S.STABLE, join.generation_id, join.member_id)
        assert again.heartbeat("g", join.member_id, join.generation_id) == ErrorCode.NONE
        sync = await again.sync("g", join.member_id, join.generation_id)
        assert sync.assignment == b"asg"
        await again.advance(6001)  # the reloaded member's session still runs out
        assert again.group("g").state is S.EMPTY

    run(body)


def test_requests_for_partitions_led_elsewhere() -> None:
    async def body() -> None:
        ctx = GroupTestContext(offsets_topic_num_partitions=2)
        await ctx.start()  # leads partition 0 only
        other = next(g for g in ("a", "b", "c", "d") if partition_for(g, 2) == 1)
        assert ctx.heartbeat(other, "m", 1) == ErrorCode.NOT_COORDINATOR
        assert (await ctx.join(other)).error_code == ErrorCode.NOT_COORDINATOR
        ctx.service.on_resigned(0)
        assert ctx.service.fetch_offsets("x", None)[0] == ErrorCode.NOT_COORDINATOR

    run(body)


def test_resigning_answers_parked_joins() -> None:
    async def body() -> None:
        ctx = GroupTestContext(initial_rebalance_delay_ms=3000)
        await ctx.start()
        parked = await ctx.join_dynamic("g")
        ctx.service.on_resigned(0)
        assert (await parked).error_code == ErrorCode.NOT_COORDINATOR

    run(body)
