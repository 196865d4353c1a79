"""Metadata records -> delta -> a new immutable image.

``MetadataDelta.replay`` routes each record to the part of the image it changes;
``apply`` builds the next ``MetadataImage``, reusing every sub-image that did not change
(Kafka's MetadataDelta). Replaying the same records always yields the same image, which is what
makes the metadata log the single source of truth.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from brook.metadata.image import (
    BrokerEndpoint,
    BrokerRegistration,
    ClusterImage,
    ConfigurationsImage,
    MetadataImage,
    PartitionRegistration,
    ProducerIdsImage,
    TopicImage,
    TopicsImage,
)
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

# PartitionChangeRecord.Leader: -2 means "no change", -1 means "no leader".
_NO_LEADER_CHANGE = -2


class MetadataDelta:
    """Accumulates changes on top of a base image. Single-threaded; used once per batch."""

    def __init__(self, base: MetadataImage) -> None:
        self.base = base
        self._topics_by_id: dict[bytes, TopicImage] | None = None
        self._partitions: dict[bytes, dict[int, PartitionRegistration]] = {}
        self._configs: dict[tuple[int, str], dict[str, str]] | None = None
        self._brokers: dict[int, BrokerRegistration] | None = None
        self._next_producer_id: int | None = None
        self.changed_topic_ids: set[bytes] = set()
        self.changed_topic_configs: set[str] = set()
        self.deleted_topics: dict[bytes, TopicImage] = {}
        self.last_offset = base.offset

    # -- helpers ---------------------------------------------------------------------------
    def _topics(self) -> dict[bytes, TopicImage]:
        if self._topics_by_id is None:
            self._topics_by_id = dict(self.base.topics.by_id)
        return self._topics_by_id

    def _topic_partitions(self, topic_id: bytes) -> dict[int, PartitionRegistration]:
        parts = self._partitions.get(topic_id)
        if parts is None:
            topic = self._topics().get(topic_id)
            parts = dict(topic.partitions) if topic is not None else {}
            self._partitions[topic_id] = parts
        return parts

    # -- replay ----------------------------------------------------------------------------
    def replay(self, record: Any, offset: int) -> None:
        """Apply one metadata record; unknown record types are ignored (forward compatible)."""
        self.last_offset = offset
        if isinstance(record, PartitionChangeRecord):
            self._replay_partition_change(record)
        elif isinstance(record, PartitionRecord):
            self._topic_partitions(record.topic_id)[record.partition_id] = PartitionRegistration(
                replicas=tuple(record.replicas),
                isr=tuple(record.isr),
                leader=record.leader,
                leader_epoch=record.leader_epoch,
                partition_epoch=record.partition_epoch,
                adding_replicas=tuple(record.adding_replicas or ()),
                removing_replicas=tuple(record.removing_replicas or ()),
            )
            self.changed_topic_ids.add(record.topic_id)
        elif isinstance(record, TopicRecord):
            self._topics()[record.topic_id] = TopicImage(record.name, record.topic_id, {})
            self._partitions[record.topic_id] = {}
            self.changed_topic_ids.add(record.topic_id)
        elif isinstance(record, ConfigRecord):
            self._replay_config(record)
        elif isinstance(record, RemoveTopicRecord):
            topics = self._topics()
            removed = topics.pop(record.topic_id, None)
            self._partitions.pop(record.topic_id, None)
            self.changed_topic_ids.discard(record.topic_id)
            if removed is not None:
                self.deleted_topics[record.topic_id] = removed
                if self._configs is None:
                    self._configs = {k: dict(v) for k, v in self.base.configs.resources.items()}
                self._configs.pop((2, removed.name), None)
        elif isinstance(record, RegisterBrokerRecord):
            if self._brokers is None:
                self._brokers = dict(self.base.cluster.brokers)
            self._brokers[record.broker_id] = BrokerRegistration(
                broker_id=record.broker_id,
                incarnation_id=record.incarnation_id,
                broker_epoch=record.broker_epoch,
                endpoints=tuple(
                    BrokerEndpoint(ep.name, ep.host, ep.port, ep.security_protocol)
                    for ep in record.end_points
                ),
                rack=record.rack,
                fenced=record.fenced,
            )
        elif isinstance(record, BrokerRegistrationChangeRecord):
            self._replay_registration_change(record)
        elif isinstance(record, ProducerIdsRecord):
            self._next_producer_id = record.next_producer_id

    def _replay_registration_change(self, record: BrokerRegistrationChangeRecord) -> None:
        """Fenced is 1 (fence), -1 (unfence) or 0 (no change), as in Kafka; a change for
        another epoch of the broker than the registered one is stale and ignored."""
        if self._brokers is None:
            self._brokers = dict(self.base.cluster.brokers)
        current = self._brokers.get(record.broker_id)
        if current is None or current.broker_epoch != record.broker_epoch or record.fenced == 0:
            return
        self._brokers[record.broker_id] = dataclasses.replace(current, fenced=record.fenced == 1)

    def _replay_partition_change(self, record: PartitionChangeRecord) -> None:
        parts = self._topic_partitions(record.topic_id)
        old = parts.get(record.partition_id)
        if old is None:
            return
        # As Kafka's PartitionRegistration.merge: a record that names a leader starts a new
        # leader epoch even when it names the same broker (a controller bumps the epoch that
        # way); -2 keeps leader and epoch.
        leader_changed = record.leader != _NO_LEADER_CHANGE
        leader = record.leader if leader_changed else old.leader
        replicas = tuple(record.replicas) if record.replicas is not None else old.replicas
        parts[record.partition_id] = PartitionRegistration(
            replicas=replicas,
            isr=tuple(record.isr) if record.isr is not None else old.isr,
            leader=leader,
            leader_epoch=old.leader_epoch + 1 if leader_changed else old.leader_epoch,
            partition_epoch=old.partition_epoch + 1,
            adding_replicas=(old.adding_replicas if record.adding_replicas is None
                             else tuple(record.adding_replicas)),
            removing_replicas=(old.removing_replicas if record.removing_replicas is None
                               else tuple(record.removing_replicas)),
        )
        self.changed_topic_ids.add(record.topic_id)

    def _replay_config(self, record: ConfigRecord) -> None:
        if self._configs is None:
            self._configs = {k: dict(v) for k, v in self.base.configs.resources.items()}
        key = (record.resource_type, record.resource_name)
        if record.resource_type == 2:
            self.changed_topic_configs.add(record.resource_name)
        entries = self._configs.setdefault(key, {})
        if record.value is None:
            entries.pop(record.name, None)
        else:
            entries[record.name] = record.value
        if not entries:
            del self._configs[key]

    # -- apply -----------------------------------------------------------------------------
    def apply(self) -> MetadataImage:
        """Build the next image; unchanged sub-images are shared with the base."""
        base = self.base
        topics = base.topics
        if self._topics_by_id is not None or self._partitions:
            by_id = self._topics()
            for topic_id, parts in self._partitions.items():
                t = by_id.get(topic_id)
                if t is not None:
                    by_id[topic_id] = TopicImage(t.name, t.topic_id, MappingProxyType(parts))
            topics = TopicsImage(
                MappingProxyType(by_id),
                MappingProxyType({t.name: t for t in by_id.values()}),
            )
        configs = base.configs
        if self._configs is not None:
            configs = ConfigurationsImage(
                MappingProxyType({k: MappingProxyType(v) for k, v in self._configs.items()})
            )
        cluster = base.cluster
        if self._brokers is not None:
            cluster = ClusterImage(MappingProxyType(self._brokers))
        producer_ids = base.producer_ids
        if self._next_producer_id is not None:
            producer_ids = ProducerIdsImage(self._next_producer_id)
        return MetadataImage(self.last_offset, topics, cluster, configs, producer_ids)

    def changed_topic_names(self, image: MetadataImage) -> set[str]:
        """Names of the topics whose partitions or configuration this delta changed."""
        names = set(self.changed_topic_configs)
        for topic_id in self.changed_topic_ids:
            topic = image.topics.by_id.get(topic_id)
            if topic is not None:
                names.add(topic.name)
        return names
