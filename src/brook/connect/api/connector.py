"""Connector and task base classes (Kafka Connect's ``SinkConnector``/``SinkTask``/... SPI).

A connector is configured once per name and splits its work into task configurations; tasks
do the copying. The runtime owns threads, Kafka clients, offsets and retries: a sink task only
turns records into durable writes and tells the runtime, through ``pre_commit``, which offsets
are durable; a source task only produces records with their source offsets.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from brook.connect.api.config import ConfigDef, ConfigValue
from brook.connect.api.records import SinkRecord, SourceRecord, TopicPartition


class ConnectorContext(Protocol):
    """What a connector may ask of the runtime."""

    def request_task_reconfiguration(self) -> None: ...

    def raise_error(self, exc: BaseException) -> None: ...


class ErrantRecordReporter(Protocol):
    """Sends one failed record to the dead letter queue (or fails the task, per tolerance)."""

    def report(self, record: SinkRecord, error: BaseException) -> None: ...


class SinkTaskContext(Protocol):
    def configs(self) -> Mapping[str, str]: ...

    def assignment(self) -> set[TopicPartition]: ...

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Rewind (or skip) consumption of these partitions to the given next offsets."""

    def request_commit(self) -> None: ...

    def errant_record_reporter(self) -> ErrantRecordReporter | None: ...


class OffsetStorageReader(Protocol):
    def offset(self, partition: Mapping[str, Any]) -> Mapping[str, Any] | None: ...


class SourceTaskContext(Protocol):
    def configs(self) -> Mapping[str, str]: ...

    def offset_storage_reader(self) -> OffsetStorageReader: ...


class Task(abc.ABC):
    def version(self) -> str:
        return "0.1.0"

    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class SinkTask(Task):
    """Receives records from the runtime's consumer and makes them durable somewhere else."""

    context: SinkTaskContext

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were assigned; writers for them may be created."""

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were revoked; drop their buffered, uncommitted data."""

    @abc.abstractmethod
    def put(self, records: Sequence[SinkRecord]) -> None: ...

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything handed to ``put`` so far durable."""

    def pre_commit(self, current_offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """Offsets (next offset to read) that are safe to commit. The default flushes all.

        Sinks that buffer beyond a commit interval (the S3 sink) override this to return only
        the offsets of what has really been written, which is how exactly-once is kept.
        """
        self.flush(current_offsets)
        return dict(current_offsets)


class SourceTask(Task):
    """Reads from an external system and returns records for the runtime to produce."""

    context: SourceTaskContext

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    @abc.abstractmethod
    def poll(self) -> list[SourceRecord] | None:
        """Return new records, or ``None``/``[]`` after a short wait when there are none."""

    def commit(self) -> None:
        """Offsets up to the last polled record were flushed to the offset store."""

    def commit_record(self, record: SourceRecord) -> None:
        """Kafka acknowledged this record."""


class Connector(abc.ABC):
    context: ConnectorContext

    def version(self) -> str:
        return "0.1.0"

    def initialize(self, context: ConnectorContext) -> None:
        self.context = context

    @abc.abstractmethod
    def config(self) -> ConfigDef: ...

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        """Validate against ``config()``; override to add checks the definition cannot express."""
        return self.config().validate(props)

    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def task_class(self) -> type[Task]: ...

    @abc.abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class SinkConnector(Connector):
    TYPE = "sink"


class SourceConnector(Connector):
    TYPE = "source"
