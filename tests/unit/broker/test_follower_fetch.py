"""Follower fetches and ISR changes through the handlers, over real parts: a replica manager
on a temporary directory, a controller over a local metadata log reached through its channel
(AlterPartition included), brokers 2 and 3 registered and played by Fetch requests naming
them in ``replica_state``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from brook.broker.handlers import alter_partition, fetch, produce
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.image import PartitionRegistration
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.alter_partition import AlterPartitionRequest
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from brook.replication import alter_partition_manager
from tests.unit.broker.test_handlers_services import Setup, _produce

TOPIC = "replicated"


async def _start(s: Setup, min_isr: int = 1) -> bytes:
    s.serving = True
    for b in (1, 2, 3):
        await s.controller.register_broker(
            b, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9090 + b, 0)], None)
    rm = s.services.replica_manager
    rm.alter_partition.send = s.services.controller.alter_partition
    [created] = await s.services.controller.create_topics([TopicSpec(
        TOPIC, assignments={0: [1, 2, 3]}, configs={"min.insync.replicas": str(min_isr)})],
        False)
    assert not isinstance(created, Exception)
    return s.services.image.topics.by_name[TOPIC].topic_id


def _reg(s: Setup) -> PartitionRegistration:
    return s.services.image.topics.by_name[TOPIC].partitions[0]


async def _fetch(s: Setup, topic_id: bytes, replica: int, offset: int, *,
                 last_fetched_epoch: int = -1, current_leader_epoch: int = -1,
                 max_wait_ms: int = 0) -> FetchResponse.PartitionData:
    request = FetchRequest(
        replica_state=FetchRequest.ReplicaState(replica_id=replica, replica_epoch=-1),
        max_wait_ms=max_wait_ms, min_bytes=1, topics=[FetchRequest.FetchTopic(
            topic_id=topic_id, partitions=[FetchRequest.FetchPartition(
                partition=0, fetch_offset=offset, partition_max_bytes=1 << 20,
                last_fetched_epoch=last_fetched_epoch,
                current_leader_epoch=current_leader_epoch)])])
    response = await s.call(fetch, request, 15)
    return response.responses[0].partitions[0]


async def _until(check: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():  # type: ignore[operator]
        assert loop.time() < deadline, "not within the timeout"
        await asyncio.sleep(0.01)


def test_follower_fetch_reads_to_the_log_end_and_moves_the_high_watermark(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        s = Setup(tmp_path)
        tid = await _start(s)
        acked = asyncio.ensure_future(s.call(produce, _produce(TOPIC, 0, 3)))
        await asyncio.sleep(0.05)
        assert not acked.done()
        consumer = await _fetch(s, tid, -1, 0)
        assert consumer.high_watermark == 0 and not consumer.records
        for replica in (2, 3):
            got = await _fetch(s, tid, replica, 0)
            assert got.error_code == ErrorCode.NONE and got.records  # beyond the HW
        assert (await _fetch(s, tid, 2, 3)).high_watermark == 0
        await _fetch(s, tid, 3, 3)
        response = await asyncio.wait_for(acked, 5)
        assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE
        assert (await _fetch(s, tid, -1, 0)).high_watermark == 3
        # Not a replica, or a stale leader epoch: refused as Kafka refuses them.
        assert (await _fetch(s, tid, 7, 0)).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        s.services.replica_manager.get_partition(TOPIC, 0).leader_epoch = 4  # type: ignore[union-attr]
        assert (await _fetch(s, tid, 2, 3, current_leader_epoch=1)).error_code == (
            ErrorCode.FENCED_LEADER_EPOCH)
        await s.close()

    asyncio.run(body())


def test_a_follower_with_a_divergent_epoch_is_told_where_to_truncate(tmp_path: Path) -> None:
    async def body() -> None:
        s = Setup(tmp_path)
        tid = await _start(s)
        await s.call(produce, _acks1(3))
        # Leadership goes to broker 2 and back: broker 1 leads epoch 2 from offset 3.
        for leader in (2, 1):
            await s.controller._commit([PartitionChangeRecord(
                partition_id=0, topic_id=tid, leader=leader)])
        await _until(lambda: s.services.replica_manager.get_partition(TOPIC, 0).leader_epoch == 2  # type: ignore[union-attr]
                     and s.services.replica_manager.get_partition(TOPIC, 0).is_leader)  # type: ignore[union-attr]
        await s.call(produce, _acks1(2))
        # A follower that wrote offsets 3.. in epoch 1 (under broker 2) diverges at 3.
        got = await _fetch(s, tid, 2, 5, last_fetched_epoch=1, current_leader_epoch=2)
        assert got.error_code == ErrorCode.NONE and not got.records
        assert (got.diverging_epoch.epoch, got.diverging_epoch.end_offset) == (0, 3)
        same = await _fetch(s, tid, 2, 3, last_fetched_epoch=0, current_leader_epoch=2)
        assert same.diverging_epoch.epoch == -1 and same.records
        unknown = await _fetch(s, tid, 2, 5, last_fetched_epoch=9, current_leader_epoch=2)
        assert unknown.error_code == ErrorCode.OFFSET_OUT_OF_RANGE
        await s.close()

    asyncio.run(body())


def _acks1(count: int) -> object:
    request = _produce(TOPIC, 0, count)
    request.acks = 1
    return request


def test_isr_shrinks_and_expands_through_alter_partition(tmp_path: Path) -> None:
    async def body() -> None:
        s = Setup(tmp_path)
        tid = await _start(s, min_isr=2)
        rm = s.services.replica_manager
        rm.replica_lag_time_max_ms = 50
        await s.call(produce, _acks1(2))
        await _fetch(s, tid, 2, 2)  # broker 2 keeps up; broker 3 never fetches
        await asyncio.sleep(0.1)
        await _fetch(s, tid, 2, 2)
        assert rm.shrink_isrs() == 1
        await _until(lambda: _reg(s).isr == (1, 2))
        part = rm.get_partition(TOPIC, 0)
        assert part is not None and part.isr == (1, 2) and part.partition_epoch == 1
        await s.call(produce, _acks1(1))  # broker 2 stops fetching: it falls behind
        await asyncio.sleep(0.1)
        assert rm.shrink_isrs() == 1
        await _until(lambda: _reg(s).isr == (1,))
        refused = await s.call(produce, _produce(TOPIC, 0, 1))
        assert refused.responses[0].partition_responses[0].error_code == (
            ErrorCode.NOT_ENOUGH_REPLICAS)
        # A replica that catches up to the high watermark is added back.
        await _fetch(s, tid, 3, 2)
        assert _reg(s).isr == (1,)  # below the high watermark (3): not yet
        await _fetch(s, tid, 3, 3)
        await _until(lambda: _reg(s).isr == (1, 3))
        assert part.isr == (1, 3) and rm.alter_partition.requests_sent == 3
        timed_out = await s.call(produce, _produce(TOPIC, 0, 1))  # timeout_ms=1000
        assert timed_out.responses[0].partition_responses[0].error_code == (
            ErrorCode.REQUEST_TIMED_OUT)
        await s.close()

    asyncio.run(body())


def test_alter_partition_off_the_controller_answers_not_controller(tmp_path: Path) -> None:
    async def body() -> None:
        s = Setup(tmp_path)  # its channel names another node as the controller
        tid = await _start(s)
        request = AlterPartitionRequest(broker_id=1, broker_epoch=-1, topics=[
            AlterPartitionRequest.TopicData(topic_id=tid, partitions=[
                AlterPartitionRequest.PartitionData(partition_index=0, new_isr_with_epochs=[
                    AlterPartitionRequest.BrokerState(broker_id=1)])])])
        response = await s.call(alter_partition, request, 3)
        assert response.error_code == ErrorCode.NOT_CONTROLLER
        assert _reg(s).isr == (1, 2, 3)
        await s.close()

    asyncio.run(body())


@pytest.mark.parametrize("per_request, requests", [(1000, 1), (8, 3)])
def test_isr_changes_of_many_partitions_go_in_few_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_request: int, requests: int,
) -> None:
    monkeypatch.setattr(alter_partition_manager, "MAX_CHANGES_PER_REQUEST", per_request)

    async def body() -> None:
        s = Setup(tmp_path)
        await _start(s)
        [created] = await s.services.controller.create_topics([TopicSpec(
            "many", assignments={i: [1, 2, 3] for i in range(20)})], False)
        assert not isinstance(created, Exception)
        rm = s.services.replica_manager
        rm.replica_lag_time_max_ms = 1
        for i in range(20):
            request = _produce("many", i, 1)
            request.acks = 1
            await s.call(produce, request)
        await asyncio.sleep(0.05)
        before = rm.alter_partition.requests_sent
        assert rm.shrink_isrs() == 21  # the 20 and the first topic's partition
        await _until(lambda: all(p.isr == (1,) for p in
                                 s.services.image.topics.by_name["many"].partitions.values()))
        assert rm.alter_partition.requests_sent == before + requests
        await s.close()

    asyncio.run(body())
