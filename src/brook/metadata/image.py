"""The immutable metadata image: what every broker component reads.

Kafka's ``MetadataImage`` shape: the image is built by replaying metadata records (see
``delta.py``), never mutated after publication, and shared freely between readers. A new image
reuses every sub-image that did not change, so publishing is cheap even with many topics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NewType

TopicName = NewType("TopicName", str)
TopicId = NewType("TopicId", bytes)
BrokerId = NewType("BrokerId", int)

ZERO_UUID = b"\x00" * 16

# ConfigResource types as Kafka numbers them (ConfigRecord.ResourceType).
RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PartitionRegistration:
    """One partition as the controller registered it (Kafka's PartitionRegistration)."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int
    adding_replicas: tuple[int, ...] = ()
    """A reassignment's new replicas not yet in the ISR (in ``replicas`` too)."""
    removing_replicas: tuple[int, ...] = ()
    """A reassignment's replicas to drop once every target replica is in the ISR."""


@dataclass(frozen=True, slots=True)
class TopicImage:
    name: str
    topic_id: bytes
    partitions: Mapping[int, PartitionRegistration]


@dataclass(frozen=True, slots=True)
class TopicsImage:
    by_id: Mapping[bytes, TopicImage] = field(default_factory=lambda: MappingProxyType({}))
    by_name: Mapping[str, TopicImage] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str) -> TopicImage | None:
        return self.by_name.get(name)


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    name: str
    host: str
    port: int
    security_protocol: int


@dataclass(frozen=True, slots=True)
class BrokerRegistration:
    broker_id: int
    incarnation_id: bytes
    broker_epoch: int
    endpoints: tuple[BrokerEndpoint, ...]
    rack: str | None
    fenced: bool

    def endpoint(self, listener_name: str) -> BrokerEndpoint | None:
        for ep in self.endpoints:
            if ep.name == listener_name:
                return ep
        return None


@dataclass(frozen=True, slots=True)
class ClusterImage:
    brokers: Mapping[int, BrokerRegistration] = field(default_factory=lambda: MappingProxyType({}))

    def endpoint(self, broker_id: int, listener_name: str) -> BrokerEndpoint | None:
        """Where another broker is reached on ``listener_name`` (``inter.broker.listener.name``
        for the fetchers and for requests forwarded to the controller), or None if it is not
        registered or does not advertise that listener."""
        broker = self.brokers.get(broker_id)
        return broker.endpoint(listener_name) if broker is not None else None


@dataclass(frozen=True, slots=True)
class ConfigurationsImage:
    """Dynamic configuration overrides keyed by (resource type, resource name)."""

    resources: Mapping[tuple[int, str], Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def topic_config(self, topic: str) -> Mapping[str, str]:
        return self.resources.get((RESOURCE_TOPIC, topic), _EMPTY)

    def broker_config(self, broker: str) -> Mapping[str, str]:
        return self.resources.get((RESOURCE_BROKER, broker), _EMPTY)


@dataclass(frozen=True, slots=True)
class ProducerIdsImage:
    """The next producer id block start: ids below it have been handed out."""

    next_producer_id: int = 0


@dataclass(frozen=True, slots=True)
class MetadataImage:
    """Everything the metadata log says, as of ``offset`` (the last applied record offset)."""

    offset: int = -1
    topics: TopicsImage = field(default_factory=TopicsImage)
    cluster: ClusterImage = field(default_factory=ClusterImage)
    configs: ConfigurationsImage = field(default_factory=ConfigurationsImage)
    producer_ids: ProducerIdsImage = field(default_factory=ProducerIdsImage)


EMPTY_IMAGE = MetadataImage()
