"""Sink connector offsets = the consumer group ``connect-<connector>`` (Kafka Connect's layout).

Used by the offsets REST endpoints (KIP-875). ``MemorySinkOffsets`` stands in for Kafka in unit
tests of the herder.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from brook.connect.api import ConnectException


class SinkOffsets(Protocol):
    def get(self, connector: str, config: Mapping[str, Any]) -> dict[tuple[str, int], int]: ...

    def alter(self, connector: str, offsets: Mapping[tuple[str, int], int | None]) -> None: ...

    def reset(self, connector: str) -> None: ...


class MemorySinkOffsets:
    def __init__(self) -> None:
        self.groups: dict[str, dict[tuple[str, int], int]] = {}

    def get(self, connector: str, config: Mapping[str, Any]) -> dict[tuple[str, int], int]:
        return dict(self.groups.get(connector, {}))

    def alter(self, connector: str, offsets: Mapping[tuple[str, int], int | None]) -> None:
        group = self.groups.setdefault(connector, {})
        for tp, off in offsets.items():
            if off is None:
                group.pop(tp, None)
            else:
                group[tp] = off

    def reset(self, connector: str) -> None:
        self.groups.pop(connector, None)


class KafkaSinkOffsets:
    def __init__(self, client_conf: Mapping[str, Any]) -> None:
        self.client_conf: dict[str, Any] = dict(client_conf)

    def _consumer(self, connector: str) -> Consumer:
        return Consumer({**self.client_conf, "group.id": f"connect-{connector}",
                         "enable.auto.commit": False})

    def get(self, connector: str, config: Mapping[str, Any]) -> dict[tuple[str, int], int]:
        consumer = self._consumer(connector)
        try:
            md = consumer.list_topics(timeout=10)
            topics = list(config.get("topics") or [])
            if config.get("topics.regex"):
                pattern = re.compile(str(config["topics.regex"]))
                topics = [t for t in md.topics if pattern.fullmatch(t)]
            tps = [TopicPartition(t, p) for t in topics if t in md.topics
                   for p in md.topics[t].partitions]
            if not tps:
                return {}
            committed = consumer.committed(tps, timeout=10)
            return {(tp.topic, tp.partition): tp.offset for tp in committed if tp.offset >= 0}
        finally:
            consumer.close()

    def alter(self, connector: str, offsets: Mapping[tuple[str, int], int | None]) -> None:
        """Commit the offsets; a ``None`` offset resets its partition to the earliest one.

        Kafka deletes a reset partition's committed offset, so the task starts where Connect's
        ``auto.offset.reset=earliest`` puts it; librdkafka cannot delete one group offset, so the
        partition's log start offset is committed instead: the task resumes at the same record.
        """
        consumer = self._consumer(connector)
        try:
            todo = []
            for (t, p), off in offsets.items():
                if off is None:
                    off, _ = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)
                todo.append(TopicPartition(t, p, off))
            if todo:
                consumer.commit(offsets=todo, asynchronous=False)
        except KafkaException as exc:
            raise ConnectException(f"could not alter offsets: {exc}") from exc
        finally:
            consumer.close()

    def reset(self, connector: str) -> None:
        admin = AdminClient(self.client_conf)  # must outlive its futures
        futures = admin.delete_consumer_groups([f"connect-{connector}"], request_timeout=30)
        for f in futures.values():
            try:
                f.result(timeout=30)
            except KafkaException as exc:
                if "GROUP_ID_NOT_FOUND" not in str(exc):
                    raise ConnectException(f"could not reset offsets: {exc}") from exc
