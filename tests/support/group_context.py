"""A group coordinator on an in-memory log and a ``VirtualClock``.

Tests feed requests in and look at the responses and at the records the coordinator wrote,
with time moving only when a test says so (Kafka's GroupMetadataManagerTestContext): the
coordinator's timers run on the clock, which fires them in deadline order as it advances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from brook.coordinator.group import GroupCoordinatorConfig, GroupCoordinatorService, RequestMeta
from brook.coordinator.group.record_serde import (
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
)
from brook.coordinator.runtime import (
    CoordinatorRecord,
    CoordinatorWriteError,
    ReplayFn,
)
from brook.env import Rng
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.consumer_protocol_subscription import ConsumerProtocolSubscription
from brook.protocol.messages.heartbeat import HeartbeatRequest
from brook.protocol.messages.join_group import JoinGroupRequest, JoinGroupResponse
from brook.protocol.messages.sync_group import SyncGroupRequest, SyncGroupResponse
from brook.testing.clock import VirtualClock

T = TypeVar("T")


@dataclass
class FakeLog:
    """The partition: records with offsets, and an optional error for the next appends."""

    records: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    fail_with: ErrorCode | None = None

    async def append(self, topic: str, partition: int,
                     records: Sequence[CoordinatorRecord]) -> int:
        if self.fail_with is not None:
            raise CoordinatorWriteError(self.fail_with)
        for key, value in records:
            self.records.append((len(self.records), key, value))
        return len(self.records) - 1

    async def load(self, topic: str, partition: int, replay: ReplayFn) -> None:
        for offset, key, value in self.records:
            replay(offset, key, value)

    def decoded(self) -> list[tuple[Any, Any]]:
        out = []
        for _, key, value in self.records:
            k = decode_key(key)
            if value is None:
                out.append((k, None))
            elif type(k).__name__ == "OffsetCommitKey":
                out.append((k, decode_offset_commit_value(value)))
            else:
                out.append((k, decode_group_metadata_value(value)))
        return out


class GroupTestContext:
    """One service leading every partition of a one-partition offsets topic."""

    def __init__(self, log: FakeLog | None = None, clock: VirtualClock | None = None,
                 **config: Any) -> None:
        self.clock = clock or VirtualClock()
        self.log = log or FakeLog()
        defaults: dict[str, Any] = {"offsets_topic_num_partitions": 1,
                                    "initial_rebalance_delay_ms": 0}
        self.config = GroupCoordinatorConfig(**{**defaults, **config})
        self.service = GroupCoordinatorService(self.config, self.log, self.log, self.clock,
                                               Rng(seed=7))

    async def start(self) -> None:
        self.service.on_elected(0)
        await settle()

    @property
    def shard(self) -> Any:
        return self.service.shards[0]

    async def advance(self, ms: int) -> None:
        self.clock.advance(ms)
        await settle()

    # -- requests --------------------------------------------------------------------------
    def join(self, group: str, member_id: str = "", version: int = 5, session_ms: int = 10000,
             rebalance_ms: int = 30000, protocols: Sequence[tuple[str, bytes]] | None = None,
             instance_id: str | None = None, protocol_type: str = "consumer",
             client_id: str = "client") -> asyncio.Task[JoinGroupResponse]:
        request = JoinGroupRequest(
            group_id=group, session_timeout_ms=session_ms, rebalance_timeout_ms=rebalance_ms,
            member_id=member_id, group_instance_id=instance_id, protocol_type=protocol_type,
            protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name=n, metadata=m)
                       for n, m in (protocols or [("range", subscription("t"))])],
        )
        return asyncio.ensure_future(self.service.join_group(
            RequestMeta(client_id, "/127.0.0.1", version), request))

    async def join_dynamic(self, group: str, **kw: Any) -> asyncio.Task[JoinGroupResponse]:
        """v4+ first join: collect the id from MEMBER_ID_REQUIRED and join with it."""
        first = await self.join(group, **kw)
        assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED, first
        task = self.join(group, member_id=first.member_id, **kw)
        await settle()
        return task

    def sync(self, group: str, member_id: str, generation: int,
             assignments: dict[str, bytes] | None = None, version: int = 5,
             instance_id: str | None = None) -> asyncio.Task[SyncGroupResponse]:
        request = SyncGroupRequest(
            group_id=group, generation_id=generation, member_id=member_id,
            group_instance_id=instance_id, protocol_type=None, protocol_name=None,
            assignments=[SyncGroupRequest.SyncGroupRequestAssignment(member_id=m, assignment=a)
                         for m, a in (assignments or {}).items()],
        )
        return asyncio.ensure_future(self.service.sync_group(
            RequestMeta("client", "/127.0.0.1", version), request))

    def heartbeat(self, group: str, member_id: str, generation: int,
                  instance_id: str | None = None) -> int:
        return self.service.heartbeat(
            RequestMeta("client", "/127.0.0.1", 4),
            HeartbeatRequest(group_id=group, generation_id=generation, member_id=member_id,
                             group_instance_id=instance_id),
        ).error_code

    def group(self, group_id: str) -> Any:
        return self.shard.groups.groups[group_id]


async def settle() -> None:
    """Let queued appends, replays and parked responses run to completion."""
    for _ in range(10):
        await asyncio.sleep(0)


def subscription(*topics: str) -> bytes:
    return b"\x00\x01" + ConsumerProtocolSubscription(topics=list(topics), user_data=None
                                                      ).to_bytes(1)


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(body(), 10))
