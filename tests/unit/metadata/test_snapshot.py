"""An image written as records and read back is the same image; a snapshot applied to an image
that is behind removes what the snapshot no longer holds."""

from __future__ import annotations

from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage
from brook.metadata.serde import decode_record, encode_record
from brook.metadata.snapshot import image_records, snapshot_delta, snapshot_image
from brook.protocol.metadata_records.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from brook.protocol.metadata_records.config_record import ConfigRecord
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord
from brook.protocol.metadata_records.partition_record import PartitionRecord
from brook.protocol.metadata_records.producer_ids_record import ProducerIdsRecord
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
from brook.protocol.metadata_records.remove_topic_record import RemoveTopicRecord
from brook.protocol.metadata_records.topic_record import TopicRecord

T1, T2, T3 = b"\x01" * 16, b"\x02" * 16, b"\x03" * 16


def _replay(records: list[object], base: MetadataImage = EMPTY_IMAGE) -> MetadataImage:
    delta = MetadataDelta(base)
    for i, r in enumerate(records):
        delta.replay(r, base.offset + 1 + i)
    return delta.apply()


def _history() -> MetadataImage:
    ep = [RegisterBrokerRecord.BrokerEndpoint(name="PLAINTEXT", host="h", port=9092 + i,
                                              security_protocol=0) for i in range(3)]
    return _replay([
        RegisterBrokerRecord(broker_id=1, incarnation_id=b"\x0a" * 16, broker_epoch=3,
                             end_points=[ep[0]], rack="use1-az1", fenced=False),
        RegisterBrokerRecord(broker_id=2, incarnation_id=b"\x0b" * 16, broker_epoch=5,
                             end_points=[ep[1]], rack="use1-az2", fenced=False),
        TopicRecord(name="a", topic_id=T1),
        PartitionRecord(partition_id=0, topic_id=T1, replicas=[1, 2], isr=[1, 2], leader=1,
                        leader_epoch=0, partition_epoch=0),
        PartitionRecord(partition_id=1, topic_id=T1, replicas=[2, 1], isr=[2, 1], leader=2,
                        leader_epoch=0, partition_epoch=0),
        TopicRecord(name="b", topic_id=T2),
        PartitionRecord(partition_id=0, topic_id=T2, replicas=[2], isr=[2], leader=2,
                        leader_epoch=0, partition_epoch=0),
        ConfigRecord(resource_type=2, resource_name="a", name="retention.ms", value="1000"),
        ConfigRecord(resource_type=2, resource_name="a", name="cleanup.policy", value="compact"),
        ProducerIdsRecord(broker_id=1, next_producer_id=3000),
        PartitionChangeRecord(partition_id=0, topic_id=T2, leader=-1),
        BrokerRegistrationChangeRecord(broker_id=2, broker_epoch=5, fenced=1),
        ConfigRecord(resource_type=2, resource_name="a", name="retention.ms", value=None),
    ])


def _same(a: MetadataImage, b: MetadataImage) -> None:
    assert dict(a.cluster.brokers) == dict(b.cluster.brokers)
    assert {k: dict(v) for k, v in a.configs.resources.items()} == {
        k: dict(v) for k, v in b.configs.resources.items()}
    assert {t: (x.name, dict(x.partitions)) for t, x in a.topics.by_id.items()} == {
        t: (x.name, dict(x.partitions)) for t, x in b.topics.by_id.items()}
    assert a.producer_ids == b.producer_ids


def test_an_image_written_as_records_reads_back_the_same() -> None:
    image = _history()
    records = [decode_record(encode_record(r)) for r in image_records(image)]
    back = snapshot_image(records, 41)
    _same(back, image)
    assert back.offset == 41
    assert back.topics.by_id[T2].partitions[0].leader == -1
    assert back.topics.by_id[T2].partitions[0].leader_epoch == 1  # epochs kept as they are
    assert back.cluster.brokers[2].fenced


def test_a_snapshot_delta_removes_what_the_snapshot_no_longer_holds() -> None:
    behind = _replay([TopicRecord(name="gone", topic_id=T3),
                      PartitionRecord(partition_id=0, topic_id=T3, replicas=[1], isr=[1],
                                      leader=1, leader_epoch=0, partition_epoch=0),
                      ConfigRecord(resource_type=2, resource_name="a", name="segment.ms",
                                   value="5")], _history())
    target = _replay([RemoveTopicRecord(topic_id=T1)], _history())
    delta = snapshot_delta(behind, image_records(target), 99)
    after = delta.apply()
    _same(after, target)
    assert after.offset == 99
    assert {t.name for t in delta.deleted_topics.values()} == {"gone", "a"}


def test_a_follower_behind_a_trimmed_log_loads_the_snapshot_and_goes_on() -> None:
    """The follower reads a log whose records below offset 13 were replaced by a snapshot:
    it publishes the snapshot (as a delta from its image), then the records after it."""
    import asyncio

    from brook.metadata.follower import MetadataFollower
    from brook.metadata.loader import MetadataLoader
    from brook.raft.memory_log import MemoryMetadataLog, MemoryMetadataStore
    from brook.testing.clock import VirtualClock
    from brook.testing.vtime import run

    history = _history()
    snapshot_values = [encode_record(r) for r in image_records(history)]
    clock = VirtualClock()
    store = MemoryMetadataStore(clock)
    store.records = [b""] * 13 + [encode_record(TopicRecord(name="later", topic_id=T3))]
    store.trim(13)  # offsets 0..12 now live only in the snapshot (at offset 12)
    loader = MetadataLoader(None)
    loader.load(records=[(0, encode_record(TopicRecord(name="stale", topic_id=T1)))])
    published: list[MetadataDelta] = []
    loader.publishers.append(lambda delta, image: published.append(delta))

    async def snapshot() -> tuple[int, list[bytes]]:
        return 12, snapshot_values

    async def main() -> None:
        follower = MetadataFollower(loader, MemoryMetadataLog(store).follow, snapshot)
        follower.start()
        await asyncio.wait_for(follower.wait_applied(13), 5)
        await follower.stop()

    run(main(), clock=clock)
    image = loader.image
    assert image.offset == 13
    assert {t.name for t in image.topics.by_id.values()} == {"a", "b", "later"}
    assert image.topics.by_id[T1].name == "a"  # the stale topic under that id was replaced
    assert len(published) == 2
