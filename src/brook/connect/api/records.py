"""Records as connectors see them: ``SinkRecord`` (from Kafka) and ``SourceRecord`` (to Kafka).

Keys and values are already converted: whatever the configured converter produced (``str``,
``bytes``, ``dict``/``list`` for JSON, ``None`` for a tombstone). A JSON value with
``schemas.enable=true`` keeps its schema beside it in ``value_schema`` so that formats that
need one (Avro, Parquet) can use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Header:
    """One record header; ``value`` is converted like keys and values are (bytes by default)."""

    key: str
    value: Any


@dataclass(slots=True)
class Headers:
    """An ordered multi-map of headers, as Kafka headers are (a key may repeat)."""

    items: list[Header] = field(default_factory=list)

    def add(self, key: str, value: Any) -> Headers:
        self.items.append(Header(key, value))
        return self

    def last_with_name(self, key: str) -> Header | None:
        for h in reversed(self.items):
            if h.key == key:
                return h
        return None

    def __iter__(self) -> Iterator[Header]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(slots=True)
class ConnectRecord:
    """What every record has: its topic/partition, key, value, their schemas, time and headers.

    ``timestamp`` is milliseconds since the epoch, or ``None`` when the record carries none.
    """

    topic: str
    kafka_partition: int | None
    key: Any
    value: Any
    timestamp: int | None = None
    headers: Headers = field(default_factory=Headers)
    key_schema: Mapping[str, Any] | None = None
    value_schema: Mapping[str, Any] | None = None


@dataclass(slots=True)
class SinkRecord(ConnectRecord):
    """A record read from Kafka; ``kafka_offset`` is what sinks commit (plus one) once durable."""

    kafka_offset: int = 0
    timestamp_type: str = "CreateTime"
    original_topic: str | None = None
    original_kafka_partition: int | None = None
    original_kafka_offset: int | None = None
    """Where the record was read (Kafka's KIP-793): transformations may change ``topic`` and
    ``kafka_partition``, but offsets are committed for the partition the record came from."""

    def __post_init__(self) -> None:
        if self.original_topic is None:
            self.original_topic = self.topic
        if self.original_kafka_partition is None:
            self.original_kafka_partition = self.kafka_partition
        if self.original_kafka_offset is None:
            self.original_kafka_offset = self.kafka_offset

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.kafka_partition or 0)

    @property
    def original_topic_partition(self) -> TopicPartition:
        """The partition the record was consumed from, whatever transformations renamed."""
        return TopicPartition(self.original_topic or self.topic,
                              self.original_kafka_partition or 0)


@dataclass(slots=True)
class SourceRecord(ConnectRecord):
    """A record a source task wants written to Kafka, with the position it was read from.

    ``source_partition``/``source_offset`` are opaque JSON-able maps; the runtime stores the
    latest offset per partition only after Kafka acknowledged the record, so a restarted task
    resumes from what was really delivered.
    """

    source_partition: Mapping[str, Any] = field(default_factory=dict)
    source_offset: Mapping[str, Any] = field(default_factory=dict)
