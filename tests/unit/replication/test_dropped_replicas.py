"""A broker drops the replicas it no longer hosts: a reassignment that moves a replica to other
brokers, or a topic of the same name with another topic id, stops the replica (its fetcher,
its waiting fetches and acks=all produces) and deletes its log, on a serving broker and at
start-up alike.

Real parts: a replica manager and a log manager on a temporary directory, the fetcher manager
(its fetchers are not started: nothing connects), and metadata images replayed from the
records the controller writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from brook.env import SYSTEM_CLOCK
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from brook.protocol.metadata_records.partition_record import PartitionRecord
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
from brook.protocol.metadata_records.remove_topic_record import RemoveTopicRecord
from brook.protocol.metadata_records.topic_record import TopicRecord
from brook.replication.delayed_produce import NotLeaderOrFollowerError
from brook.replication.fetcher_manager import ReplicaFetcherManager, fetcher_config
from brook.replication.local_changes import local_changes
from brook.replication.partition import TopicPartition
from brook.replication.replica_manager import ReplicaManager
from brook.storage.checkpoint import RECOVERY_POINT_CHECKPOINT_FILENAME, OffsetCheckpointFile
from brook.storage.log_loader import read_partition_metadata
from brook.storage.log_manager import LogManager
from tests.support.storage_batches import make_batch

OLD = b"\x01" * 16
NEW = b"\x02" * 16
LISTENER = "REPLICATION"


def _replay(image: MetadataImage, records: list[Any]) -> tuple[MetadataDelta, MetadataImage]:
    delta = MetadataDelta(image)
    for i, record in enumerate(records):
        delta.replay(record, image.offset + 1 + i)
    return delta, delta.apply()


def _cluster(*parts: tuple[list[int], int], topic_id: bytes = OLD) -> MetadataImage:
    """Brokers 1-3 reachable on the inter-broker listener, and topic "t" with the given
    (replicas, leader) partitions, every replica in the ISR."""
    records: list[Any] = [
        RegisterBrokerRecord(broker_id=b, broker_epoch=b, fenced=False, end_points=[
            RegisterBrokerRecord.BrokerEndpoint(LISTENER, "127.0.0.1", 1, 0)])
        for b in (1, 2, 3)]
    records.append(TopicRecord(name="t", topic_id=topic_id))
    for i, (replicas, leader) in enumerate(parts):
        records.append(PartitionRecord(partition_id=i, topic_id=topic_id, replicas=replicas,
                                       isr=replicas, leader=leader, leader_epoch=0,
                                       partition_epoch=0))
    return _replay(EMPTY_IMAGE, records)[1]


def _moved(image: MetadataImage, partition: int, replicas: list[int],
           leader: int) -> tuple[MetadataDelta, MetadataImage]:
    """A completed reassignment: the records the controller writes once the target replicas
    are in the ISR (the replicas not in the target leave, the leader comes from the target)."""
    return _replay(image, [PartitionChangeRecord(
        partition_id=partition, topic_id=image.topics.by_name["t"].topic_id, replicas=replicas,
        isr=replicas, leader=leader, adding_replicas=[], removing_replicas=[])])


class Broker:
    """Broker 1's replica manager, log manager and fetcher manager, wired as ``BrokerNode``
    wires them."""

    def __init__(self, data: Path, image: MetadataImage) -> None:
        self.data = data
        self.image = image
        self.logs = LogManager([data], {}, SYSTEM_CLOCK.now_ms)
        self.rm = ReplicaManager(1, self.logs, {})
        self.logs.high_watermark = self.rm.high_watermark
        self.fetchers = ReplicaFetcherManager(1, fetcher_config({}), LISTENER, SYSTEM_CLOCK,
                                              _no_connection, lambda: self.image)
        self.rm.followers = self.fetchers
        self.logs.startup(self.rm.hosted_logs(image))
        self.rm.apply_image(image)
        self.fetchers.on_image(image)

    async def publish(self, delta: MetadataDelta, image: MetadataImage) -> None:
        self.image = image
        await self.rm.apply_image_async(image, [t.name for t in delta.deleted_topics.values()],
                                        delta.changed_topic_names(image))
        self.fetchers.on_image(image)

    def dirs(self) -> list[str]:
        return sorted(p.name for p in self.data.iterdir() if p.is_dir())

    async def close(self) -> None:
        await self.fetchers.shutdown()
        await self.logs.shutdown()


def _no_connection(host: str, port: int, client_id: str, timeout: float) -> Any:
    raise AssertionError("no fetcher is started in these tests")


def _run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def _append(broker: Broker, partition: int, count: int) -> None:
    part = broker.rm.get_partition("t", partition)
    assert part is not None
    part.log.append_as_leader(memoryview(make_batch(count)), part.leader_epoch, 0)


def test_a_replica_moved_away_stops_fetching_fails_its_waiters_and_deletes_its_log(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        # t-0: broker 1 follows broker 2. t-1: broker 1 leads, broker 2 follows.
        broker = Broker(tmp_path, _cluster(([1, 2], 2), ([1, 2], 1)))
        try:
            follower, leader = broker.rm.get_partition("t", 0), broker.rm.get_partition("t", 1)
            assert follower is not None and leader is not None
            assert broker.fetchers.followed == {TopicPartition("t", 0): 2}
            _append(broker, 0, 3)
            _append(broker, 1, 2)
            leader.advance_high_watermark()
            consumer_wait = broker.rm.wait_for_data([follower, leader])
            follower_wait = broker.rm.wait_for_data([leader], follower=True)
            acks_all = leader.wait_for_high_watermark(2)  # broker 2 has not fetched yet
            assert acks_all is not None and not acks_all.done()
            assert broker.dirs() == ["t-0", "t-1"]

            # Both partitions move to [2, 3] (broker 2 leads t-1 now).
            delta, image = _moved(broker.image, 0, [2, 3], 2)
            await broker.publish(delta, image)
            assert broker.rm.get_partition("t", 0) is None
            assert broker.fetchers.followed == {}
            assert follower.removed and consumer_wait.done()
            delta, image = _moved(image, 1, [2, 3], 2)
            await broker.publish(delta, image)
            assert broker.rm.get_partition("t", 1) is None and leader.removed
            assert follower_wait.done()
            with pytest.raises(NotLeaderOrFollowerError):
                await acks_all

            # Kafka's answers for a partition the cluster has and this broker does not host.
            assert broker.rm.leader_partition("t", 0) == ErrorCode.NOT_LEADER_OR_FOLLOWER
            assert broker.logs.get_log("t", 0) is None and broker.logs.get_log("t", 1) is None
            # Renamed for deletion at once, removed by the background task's purge.
            renamed = broker.dirs()
            assert len(renamed) == 2 and all(d.endswith("-delete") for d in renamed), renamed
            recovery = OffsetCheckpointFile(tmp_path / RECOVERY_POINT_CHECKPOINT_FILENAME).read()
            assert ("t", 0) not in recovery and ("t", 1) not in recovery
            await broker.logs.purge_deleted_logs()
            assert broker.dirs() == []
        finally:
            await broker.close()

    _run(body)


def test_a_replica_moved_back_starts_from_an_empty_log(tmp_path: Path) -> None:
    """Moved away and back again: the replica starts empty and copies from the leader, never
    from what it held before the move."""

    async def body() -> None:
        broker = Broker(tmp_path, _cluster(([1, 2], 2)))
        try:
            _append(broker, 0, 5)
            delta, image = _moved(broker.image, 0, [2, 3], 2)
            await broker.publish(delta, image)
            delta, image = _moved(image, 0, [2, 3, 1], 2)
            await broker.publish(delta, image)
            part = broker.rm.get_partition("t", 0)
            assert part is not None and part.log.log_end_offset == 0
            assert broker.fetchers.followed == {TopicPartition("t", 0): 2}
            assert read_partition_metadata(tmp_path / "t-0") == OLD
        finally:
            await broker.close()

    _run(body)


def test_a_hosted_partition_whose_topic_has_another_id_is_replaced(tmp_path: Path) -> None:
    """A topic deleted and re-created under the same name: whether the change arrives as one
    delta naming the deletion or (a snapshot that dropped it) as the name's new topic id
    alone, the old records are deleted and never served as the new topic's."""

    async def body() -> None:
        broker = Broker(tmp_path, _cluster(([1, 2], 1)))
        try:
            _append(broker, 0, 4)
            # The new topic's records, with no RemoveTopicRecord before them.
            delta, image = _replay(broker.image, [
                TopicRecord(name="t", topic_id=NEW),
                PartitionRecord(partition_id=0, topic_id=NEW, replicas=[1, 2], isr=[1, 2],
                                leader=1, leader_epoch=0, partition_epoch=0)])
            assert not delta.deleted_topics
            await broker.publish(delta, image)
            part = broker.rm.get_partition("t", 0)
            assert part is not None and part.topic_id == NEW and part.log.log_end_offset == 0
            assert read_partition_metadata(tmp_path / "t-0") == NEW
            # And as one delta: the deletion, then the new topic.
            _append(broker, 0, 2)
            delta, image = _replay(image, [
                RemoveTopicRecord(topic_id=NEW), TopicRecord(name="t", topic_id=OLD),
                PartitionRecord(partition_id=0, topic_id=OLD, replicas=[1, 2], isr=[1, 2],
                                leader=1, leader_epoch=0, partition_epoch=0)])
            await broker.publish(delta, image)
            again = broker.rm.get_partition("t", 0)
            assert again is not None and again is not part and part.removed
            assert again.topic_id == OLD and again.log.log_end_offset == 0
            await broker.logs.purge_deleted_logs()
            assert broker.dirs() == ["t-0"]
        finally:
            await broker.close()

    _run(body)


def test_at_start_up_a_partition_moved_away_while_down_is_deleted_not_opened(
    tmp_path: Path,
) -> None:
    """The broker was down while the reassignment completed: its directory of the partition
    is renamed for deletion at start-up and removed, the partition it still hosts opens."""

    async def body() -> None:
        image = _cluster(([1, 2], 1), ([1, 2], 1))
        broker = Broker(tmp_path, image)
        _append(broker, 0, 3)
        _append(broker, 1, 3)
        await broker.close()
        _, image = _moved(image, 0, [2, 3], 2)
        restarted = Broker(tmp_path, image)
        try:
            assert restarted.rm.get_partition("t", 0) is None
            assert restarted.logs.get_log("t", 0) is None
            kept = restarted.rm.get_partition("t", 1)
            assert kept is not None and kept.log.log_end_offset == 3
            assert restarted.rm.leader_partition("t", 0) == ErrorCode.NOT_LEADER_OR_FOLLOWER
            await restarted.logs.purge_deleted_logs()
            assert restarted.dirs() == ["t-1"]
        finally:
            await restarted.close()

    _run(body)


def test_local_changes_names_deletes_creates_and_updates(tmp_path: Path) -> None:
    async def body() -> None:
        broker = Broker(tmp_path, _cluster(([1, 2], 1), ([1, 2], 1), ([2, 3], 2)))
        try:
            hosted = broker.rm._by_topic  # what the replica manager hands it
            _, image = _moved(broker.image, 0, [2, 3], 2)
            _, image = _moved(image, 1, [1, 2], 2)
            _, image = _moved(image, 2, [2, 3, 1], 2)
            changes = local_changes(1, image.topics.by_name.values(), hosted)
            assert [p.tp for p in changes.deletes] == [("t", 0)]
            assert [(p.tp, reg.leader) for p, reg in changes.updates] == [(("t", 1), 2)]
            assert [(t.name, i) for t, i, _ in changes.creates] == [("t", 2)]
            deleted = local_changes(1, (), hosted, ["t"])
            assert sorted(p.tp for p in deleted.deletes) == [("t", 0), ("t", 1)]
            assert not deleted.creates and not deleted.updates
        finally:
            await broker.close()

    _run(body)
