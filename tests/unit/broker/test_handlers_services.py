"""Handlers driven through ``BrokerServices`` built from real parts, with no broker node and
no socket: a replica manager over a log manager on a temporary directory, a controller over a
local metadata log reached through its channel, and the loader publishing to both."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from brook.broker.config import BrokerConfig
from brook.broker.connection_limits import ConnectionLimits
from brook.broker.context import RequestContext
from brook.broker.controller_channel import LocalControllerChannel
from brook.broker.dispatch import HANDLERS, supported_api_keys
from brook.broker.fetch_session import FetchSessionCache
from brook.broker.group_coordinator_wiring import BrokerGroupCoordinator
from brook.broker.handlers import (
    delete_records,
    describe_cluster,
    find_coordinator,
    list_offsets,
    metadata,
    offset_for_leader_epoch,
    produce,
)
from brook.broker.producer_ids import ProducerIdManager
from brook.broker.services import BrokerServices
from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.delete_records import DeleteRecordsRequest
from brook.protocol.messages.describe_cluster import DescribeClusterRequest
from brook.protocol.messages.find_coordinator import FindCoordinatorRequest
from brook.protocol.messages.list_offsets import ListOffsetsRequest
from brook.protocol.messages.metadata import MetadataRequest
from brook.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.raft.local import LocalRaftClient
from brook.records.record import build_batch
from brook.replication.replica_manager import ReplicaManager
from brook.storage.log_manager import LogManager

CONTROLLER_ID = 3000
"""Not this broker's id: the answers must take it from the channel."""


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.config = BrokerConfig.from_props({
            "node.id": "1",
            "listeners": "PLAINTEXT://127.0.0.1:9092",
            "log.dirs": str(tmp_path / "data"),
        })
        clock, rng = SYSTEM_CLOCK, Rng(11)
        self.serving = False
        self.raft = LocalRaftClient(tmp_path / "meta", clock.now_ms())
        loader = MetadataLoader(self.raft)
        self.controller = QuorumController(self.raft, clock, rng, 1, 1, loader=loader)
        channel = LocalControllerChannel(self.controller, CONTROLLER_ID)
        self.logs = LogManager([tmp_path / "data"], dict(self.config.props), clock.now_ms)
        self.logs.startup({})
        rm = ReplicaManager(1, self.logs, dict(self.config.props))
        loader.publishers.append(self._publish)
        self.services = BrokerServices(
            config=self.config, cluster_id="c1", clock=clock, image=loader.image,
            replica_manager=rm, controller=channel,
            fetch_sessions=FetchSessionCache(10, clock),
            producer_ids=ProducerIdManager(channel, 1),
            connection_limits=ConnectionLimits(self.config, clock),
            group_coordinator=BrokerGroupCoordinator(self.config, rm, loader, channel, clock, rng),
            api_versions=supported_api_keys(),
        )
        self.controller.load()

    def _publish(self, delta: MetadataDelta, image: MetadataImage) -> Awaitable[None] | None:
        self.services.image = image
        deleted = [t.name for t in delta.deleted_topics.values()]
        if not self.serving:  # start-up replay, as the broker does it
            self.services.replica_manager.apply_image(image, deleted)
            return None
        return self.services.replica_manager.apply_image_async(
            image, deleted, delta.changed_topic_names(image))

    async def start(self, *topics: str) -> None:
        self.serving = True
        await self.controller.register_broker(
            1, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9092, 0)], rack=None)
        await self.services.controller.create_topics([TopicSpec(t) for t in topics], False)

    async def call(self, module: Any, request: Any, version: int | None = None,
                   listener: str = "PLAINTEXT") -> Any:
        key = module.API_KEY
        ctx = RequestContext(self.services, key, version or HANDLERS[key].max_version, 1,
                             "test", listener, "127.0.0.1:1", "c-1")
        result = module.handle(ctx, request)
        return await result if isinstance(result, Awaitable) else result

    async def close(self) -> None:
        await self.services.group_coordinator.stop()
        await self.logs.shutdown()
        self.raft.close()


def _produce(topic: str, partition: int, count: int) -> ProduceRequest:
    batch = build_batch([(b"k", b"v%d" % i, [], 1_000 + i) for i in range(count)])
    return ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        topic, [ProduceRequest.PartitionProduceData(partition, memoryview(batch))])])


def _list_offsets(topic: str, partition: int, timestamp: int,
                  current_leader_epoch: int = -1) -> ListOffsetsRequest:
    return ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        topic, [ListOffsetsRequest.ListOffsetsPartition(partition, current_leader_epoch,
                                                        timestamp)])])


def _run(tmp_path: Path, body: Any) -> None:
    async def main() -> None:
        setup = Setup(tmp_path)
        try:
            await body(setup)
        finally:
            await setup.close()
    asyncio.run(main())


def test_produce_then_list_offsets_and_delete_records(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await s.start("t")
        produced = await s.call(produce, _produce("t", 0, 5))
        assert produced.responses[0].partition_responses[0].error_code == ErrorCode.NONE
        latest = await s.call(list_offsets, _list_offsets("t", 0, -1))
        assert latest.topics[0].partitions[0].offset == 5
        deleted = await s.call(delete_records, DeleteRecordsRequest(topics=[
            DeleteRecordsRequest.DeleteRecordsTopic("t", [
                DeleteRecordsRequest.DeleteRecordsPartition(0, 3),
                DeleteRecordsRequest.DeleteRecordsPartition(1, 0)])]))
        results = deleted.topics[0].partitions
        assert (results[0].error_code, results[0].low_watermark) == (ErrorCode.NONE, 3)
        assert results[1].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        earliest = await s.call(list_offsets, _list_offsets("t", 0, -2))
        assert earliest.topics[0].partitions[0].offset == 3
        past = await s.call(delete_records, DeleteRecordsRequest(topics=[
            DeleteRecordsRequest.DeleteRecordsTopic("t", [
                DeleteRecordsRequest.DeleteRecordsPartition(0, 6)])]))
        assert past.topics[0].partitions[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    _run(tmp_path, body)


def test_leader_epoch_checks_answer_as_kafka(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await s.start("t")
        part = s.services.replica_manager.get_partition("t", 0)
        assert part is not None
        part.update_registration(1, 4, part.replicas, part.isr)  # as a new image would
        codes = []
        for epoch in (-1, 4, 3, 5):
            r = await s.call(list_offsets, _list_offsets("t", 0, -1, epoch))
            codes.append(r.topics[0].partitions[0].error_code)
        assert codes == [ErrorCode.NONE, ErrorCode.NONE, ErrorCode.FENCED_LEADER_EPOCH,
                         ErrorCode.UNKNOWN_LEADER_EPOCH]
        olfe = await s.call(offset_for_leader_epoch, OffsetForLeaderEpochRequest(topics=[
            OffsetForLeaderEpochRequest.OffsetForLeaderTopic("t", [
                OffsetForLeaderEpochRequest.OffsetForLeaderPartition(0, 3, 0),
                OffsetForLeaderEpochRequest.OffsetForLeaderPartition(0, 4, 4)]),
            OffsetForLeaderEpochRequest.OffsetForLeaderTopic("missing", [
                OffsetForLeaderEpochRequest.OffsetForLeaderPartition(0, -1, 0)])]))
        first, second = olfe.topics[0].partitions
        assert first.error_code == ErrorCode.FENCED_LEADER_EPOCH
        assert second.error_code == ErrorCode.NONE
        assert olfe.topics[1].partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        part.update_registration(2, 5, part.replicas, part.isr)  # another broker leads now
        moved = await s.call(list_offsets, _list_offsets("t", 0, -1))
        assert moved.topics[0].partitions[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        refused = await s.call(produce, _produce("t", 0, 1))
        assert refused.responses[0].partition_responses[0].error_code == (
            ErrorCode.NOT_LEADER_OR_FOLLOWER)
    _run(tmp_path, body)


def test_describe_cluster_reports_the_channels_controller(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await s.start()
        r = await s.call(describe_cluster, DescribeClusterRequest())
        assert r.controller_id == CONTROLLER_ID
        assert [b.broker_id for b in r.brokers] == [1]
    _run(tmp_path, body)


def test_describe_cluster_authorized_operations_are_kafkas_cluster_operations(
    tmp_path: Path,
) -> None:
    """Without an authorizer, the operations Kafka defines on the cluster resource, and only
    those: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
    IDEMPOTENT_WRITE (AclOperation codes 5 and 7-12)."""
    async def body(s: Setup) -> None:
        await s.start()
        r = await s.call(describe_cluster, DescribeClusterRequest(
            include_cluster_authorized_operations=True))
        ops = {bit for bit in range(32) if r.cluster_authorized_operations >> bit & 1}
        assert ops == {5, 7, 8, 9, 10, 11, 12}
        plain = await s.call(describe_cluster, DescribeClusterRequest())
        assert plain.cluster_authorized_operations == -2147483648
    _run(tmp_path, body)


def test_an_append_completes_when_the_high_watermark_passes_it(tmp_path: Path) -> None:
    """With ``flush.messages=1`` the high watermark follows the fsync: the append's result is
    pending (and consumers see nothing) until the records are on disk, then both move."""
    async def body(s: Setup) -> None:
        await s.start()
        await s.services.controller.create_topics(
            [TopicSpec("durable", configs={"flush.messages": "1"})], False)
        rm = s.services.replica_manager
        part = rm.leader_partition("durable", 0)
        assert not isinstance(part, ErrorCode)
        batch = build_batch([(b"k", b"v", [], 1_000), (b"k", b"w", [], 1_001)])
        result = rm.append(part, memoryview(batch), -1, 1_000)
        assert result.info.first_offset == 0
        assert result.high_watermark_reached is not None
        assert not result.high_watermark_reached.done() and part.high_watermark == 0
        await result.high_watermark_reached
        assert part.high_watermark == 2
    _run(tmp_path, body)


def test_find_coordinator_refuses_transaction_and_share_keys_for_good(tmp_path: Path) -> None:
    """No transaction or share coordinator: the answer is final (UNSUPPORTED_VERSION), not
    COORDINATOR_NOT_AVAILABLE, which clients retry until they time out; groups still resolve."""
    async def body(s: Setup) -> None:
        await s.start()
        batched = await s.call(find_coordinator, FindCoordinatorRequest(
            key_type=1, coordinator_keys=["txn-a", "txn-b"]))
        assert [(c.key, c.error_code) for c in batched.coordinators] == [
            ("txn-a", ErrorCode.UNSUPPORTED_VERSION), ("txn-b", ErrorCode.UNSUPPORTED_VERSION)]
        assert "transaction coordinator" in (batched.coordinators[0].error_message or "")
        share = await s.call(find_coordinator, FindCoordinatorRequest(
            key_type=2, coordinator_keys=["g:t-id:0"]))
        assert share.coordinators[0].error_code == ErrorCode.UNSUPPORTED_VERSION
        single = await s.call(find_coordinator, FindCoordinatorRequest(key="txn", key_type=1), 3)
        assert (single.error_code, single.node_id) == (ErrorCode.UNSUPPORTED_VERSION, -1)
        group = await s.call(find_coordinator, FindCoordinatorRequest(
            key_type=0, coordinator_keys=["g"]))
        assert (group.coordinators[0].error_code, group.coordinators[0].node_id) == (
            ErrorCode.NONE, 1)
    _run(tmp_path, body)


def test_metadata_by_topic_id_with_the_name_left_empty(tmp_path: Path) -> None:
    """The Java client asks by id with the name at its default "" (not null): the id decides,
    as in Kafka (v12+); an unknown id is UNKNOWN_TOPIC_ID, never an unnamed, id-less topic."""
    async def body(s: Setup) -> None:
        await s.start("t")
        known = s.services.image.topics.by_name["t"].topic_id
        unknown = bytes(range(1, 17))
        r = await s.call(metadata, MetadataRequest(topics=[
            MetadataRequest.MetadataRequestTopic(topic_id=known, name=""),
            MetadataRequest.MetadataRequestTopic(topic_id=unknown, name=""),
        ], allow_auto_topic_creation=True), 12)
        found, missing = r.topics
        assert (found.error_code, found.name, found.topic_id) == (ErrorCode.NONE, "t", known)
        assert len(found.partitions) == 1
        assert (missing.error_code, missing.topic_id) == (ErrorCode.UNKNOWN_TOPIC_ID, unknown)
        assert "" not in s.services.image.topics.by_name
    _run(tmp_path, body)


def test_metadata_auto_create_answers_at_once_while_no_controller_is_known(tmp_path: Path) -> None:
    """A cluster broker that knows no controller (a change under way) answers a Metadata
    request that auto-creates a topic at once with LEADER_NOT_AVAILABLE, which clients retry,
    rather than hold it while the creation waits for a controller; the retries share the
    creation started in the background instead of starting one each."""
    from brook.broker.controller_forwarding import ForwardingControllerChannel

    async def body(s: Setup) -> None:
        await s.start()
        s.services.controller = ForwardingControllerChannel(
            s.controller, 1, lambda: -1, lambda: s.services.image, "PLAINTEXT")
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="fresh")],
                                  allow_auto_topic_creation=True)
        loop = asyncio.get_running_loop()
        for _ in range(3):
            started = loop.time()
            r = await asyncio.wait_for(s.call(metadata, request, 12), 5)
            assert loop.time() - started < 1.0
            assert [(t.name, t.error_code) for t in r.topics] == [
                ("fresh", ErrorCode.LEADER_NOT_AVAILABLE)]
            assert s.services.auto_topic_creation.in_flight == 1
    _run(tmp_path, body)
