"""A reassignment moves an offsets partition this broker leads to other brokers, through the
real controller and handlers: the move completes once the new replica (played by Fetch
requests naming it) joins the ISR, and then this broker unloads the partition's group
coordinator, fails the coordinator write still waiting for its ISR, and deletes its log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.broker.group_coordinator_wiring import ReplicaManagerPartitionWriter
from brook.broker.handlers import fetch
from brook.coordinator.group import OFFSETS_TOPIC
from brook.coordinator.runtime import CoordinatorWriteError
from brook.env import SYSTEM_CLOCK
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec
from brook.metadata.controller.replication_control import TopicSpec
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest
from tests.unit.broker.test_handlers_services import Setup


async def _follower_fetch(s: Setup, topic_id: bytes, replica: int, offset: int) -> ErrorCode:
    request = FetchRequest(
        replica_state=FetchRequest.ReplicaState(replica_id=replica, replica_epoch=-1),
        max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
        topics=[FetchRequest.FetchTopic(topic_id=topic_id, partitions=[
            FetchRequest.FetchPartition(partition=0, fetch_offset=offset,
                                        partition_max_bytes=1 << 20)])])
    response = await s.call(fetch, request, 17)
    return ErrorCode(response.responses[0].partitions[0].error_code)


async def _until(check: object, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


def test_an_offsets_partition_moved_away_is_unloaded_and_deleted(tmp_path: Path) -> None:
    async def body() -> None:
        s = Setup(tmp_path)
        try:
            s.serving = True
            for b in (1, 2, 3):
                await s.controller.register_broker(
                    b, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9090 + b, 0)],
                    None)
            rm = s.services.replica_manager
            rm.alter_partition.send = s.services.controller.alter_partition
            [created] = await s.services.controller.create_topics([TopicSpec(
                OFFSETS_TOPIC, assignments={0: [1, 2]}, configs={"cleanup.policy": "compact"})],
                False)
            assert not isinstance(created, Exception)
            topic_id = s.services.image.topics.by_name[OFFSETS_TOPIC].topic_id
            service = s.services.group_coordinator.service
            await _until(lambda: 0 in service.shards)
            part = rm.get_partition(OFFSETS_TOPIC, 0)
            assert part is not None and part.is_leader
            # A coordinator write waiting for follower 2, which does not fetch it.
            writer = ReplicaManagerPartitionWriter(rm, SYSTEM_CLOCK, commit_timeout_ms=30_000)
            write = asyncio.ensure_future(writer.append(OFFSETS_TOPIC, 0, [(b"k", b"v")]))
            await asyncio.sleep(0.05)
            assert not write.done()

            [moved] = await s.services.controller.alter_partition_reassignments(
                [(OFFSETS_TOPIC, 0, [2, 3])])
            assert moved.error == ErrorCode.NONE
            assert rm.get_partition(OFFSETS_TOPIC, 0) is part  # 3 is not in the ISR yet
            # Replica 3 fetches up to the leader's log end and joins the ISR; follower 2 never
            # fetches, so the high watermark stays put and the write keeps waiting.
            assert await _follower_fetch(s, topic_id, 3, part.log.log_end_offset) == \
                ErrorCode.NONE
            await _until(lambda: s.services.image.topics.by_name[OFFSETS_TOPIC]
                         .partitions[0].isr == (1, 2, 3))  # the leader's AlterPartition
            # What a cluster's controller does periodically once the targets are in the ISR.
            assert await s.controller.complete_reassignments() == 1
            await _until(lambda: rm.get_partition(OFFSETS_TOPIC, 0) is None)
            reg = s.services.image.topics.by_name[OFFSETS_TOPIC].partitions[0]
            assert (reg.replicas, reg.leader) == ((2, 3), 2)
            assert part.removed and 0 not in service.shards
            with pytest.raises(CoordinatorWriteError) as failed:
                await asyncio.wait_for(write, 20)
            assert failed.value.code == ErrorCode.NOT_LEADER_OR_FOLLOWER
            await s.logs.purge_deleted_logs()
            assert not [p for p in (tmp_path / "data").iterdir()
                        if p.name.startswith(OFFSETS_TOPIC)]
            # The old leader's view now: the partition is the cluster's, not this broker's.
            assert rm.leader_partition(OFFSETS_TOPIC, 0) == ErrorCode.NOT_LEADER_OR_FOLLOWER
        finally:
            await s.close()

    asyncio.run(body())
