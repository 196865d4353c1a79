"""An image as the metadata records that rebuild it, and the way back.

A cluster's metadata log would grow forever; a snapshot of the image lets the records below it
go, and lets a broker start (or one that fell behind the trimmed log catch up) from the
snapshot instead of from offset 0, as KRaft's snapshots do. A snapshot is written as ordinary
metadata records — brokers, configs, topics with their partitions as they stand now, the
producer-id block — so reading one back is replaying records, the same code path as the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage
from brook.protocol.metadata_records.config_record import ConfigRecord
from brook.protocol.metadata_records.partition_record import PartitionRecord
from brook.protocol.metadata_records.producer_ids_record import ProducerIdsRecord
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
from brook.protocol.metadata_records.remove_topic_record import RemoveTopicRecord
from brook.protocol.metadata_records.topic_record import TopicRecord

__all__ = ["image_records", "snapshot_delta", "snapshot_image"]


def image_records(image: MetadataImage) -> list[Any]:
    """Records whose replay from an empty image gives ``image`` (its offset aside)."""
    records: list[Any] = []
    for b in sorted(image.cluster.brokers.values(), key=lambda b: b.broker_id):
        records.append(RegisterBrokerRecord(
            broker_id=b.broker_id, incarnation_id=b.incarnation_id, broker_epoch=b.broker_epoch,
            end_points=[RegisterBrokerRecord.BrokerEndpoint(
                name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol)
                for e in b.endpoints],
            rack=b.rack, fenced=b.fenced,
        ))
    for (resource_type, resource_name), entries in sorted(image.configs.resources.items()):
        for name, value in sorted(entries.items()):
            records.append(ConfigRecord(resource_type=resource_type, resource_name=resource_name,
                                        name=name, value=value))
    for topic in sorted(image.topics.by_id.values(), key=lambda t: t.name):
        records.append(TopicRecord(name=topic.name, topic_id=topic.topic_id))
        for index, p in sorted(topic.partitions.items()):
            records.append(PartitionRecord(
                partition_id=index, topic_id=topic.topic_id, replicas=list(p.replicas),
                isr=list(p.isr), leader=p.leader, leader_epoch=p.leader_epoch,
                partition_epoch=p.partition_epoch, adding_replicas=list(p.adding_replicas),
                removing_replicas=list(p.removing_replicas),
            ))
    if image.producer_ids.next_producer_id:
        records.append(ProducerIdsRecord(
            broker_id=-1, next_producer_id=image.producer_ids.next_producer_id))
    return records


def snapshot_image(records: Iterable[Any], offset: int) -> MetadataImage:
    """The image a snapshot at ``offset`` holds."""
    delta = MetadataDelta(EMPTY_IMAGE)
    for record in records:
        delta.replay(record, offset)
    delta.last_offset = offset
    return delta.apply()


def snapshot_delta(current: MetadataImage, records: list[Any], offset: int) -> MetadataDelta:
    """A delta taking ``current`` to the snapshot's image, for a broker that fell behind the
    trimmed log: what the snapshot lacks is removed (topics, config keys), then the snapshot's
    records replace the rest — so publishers see deletions and changes as from the log."""
    target = snapshot_image(records, offset)
    delta = MetadataDelta(current)
    for topic_id in current.topics.by_id:
        if topic_id not in target.topics.by_id:
            delta.replay(RemoveTopicRecord(topic_id=topic_id), offset)
    for (resource_type, resource_name), entries in current.configs.resources.items():
        kept = target.configs.resources.get((resource_type, resource_name), {})
        for name in entries:
            if name not in kept:
                delta.replay(ConfigRecord(resource_type=resource_type,
                                          resource_name=resource_name, name=name, value=None),
                             offset)
    for record in records:
        delta.replay(record, offset)
    delta.last_offset = offset
    return delta
