"""Worker group membership (Kafka Connect's ``WorkerGroupMember``) on a librdkafka consumer.

librdkafka cannot speak Kafka Connect's ``connect`` group protocol, so a worker joins its
``group.id`` as a plain consumer subscribed to the config topic, with ``client.id`` set to its
worker id (the REST ``host:port``). The broker's group coordinator then provides what the
protocol is needed for: heartbeats, and the removal of a worker that stops heartbeating within
``session.timeout.ms`` (a SIGKILLed process included) followed by a rebalance. Members learn
who is alive by describing the group with the AdminClient; only a description taken while the
group is Stable is used, so every worker sees the same list once a rebalance has completed.
The partitions the consumer is assigned are irrelevant and its records are dropped: the
assignment of connectors and tasks is computed from the member list (``assignor``).

A worker that is not in the list it reads (not joined yet, or expelled after missing its
session) owns nothing, which fences a worker that lost its membership.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
DESCRIBE_INTERVAL_S = 0.5


class WorkerGroupMember:
    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""

    def __init__(self, client_conf: Mapping[str, Any], group_id: str, worker_id: str,
                 topic: str, session_timeout_ms: int, heartbeat_interval_ms: int,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.group_id, self.worker_id, self.topic = group_id, worker_id, topic
        self.on_change = on_change
        self.consumer = Consumer({
            **client_conf, "group.id": group_id, "client.id": worker_id,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": heartbeat_interval_ms,
            "enable.auto.commit": False, "enable.partition.eof": False,
            "auto.offset.reset": "latest"})
        self.admin = AdminClient(dict(client_conf))
        self._members: list[str] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-group-member",
                                        daemon=True)

    def start(self) -> None:
        self.consumer.subscribe([self.topic])
        self._thread.start()

    def members(self) -> list[str]:
        """The sorted worker ids of the last Stable generation seen (empty before joining)."""
        return list(self._members)

    def _describe(self) -> list[str] | None:
        future = self.admin.describe_consumer_groups([self.group_id], request_timeout=5)
        desc = future[self.group_id].result(timeout=10)
        if desc.state != ConsumerGroupState.STABLE:
            return None
        return sorted({str(m.client_id) for m in desc.members})

    def _run(self) -> None:
        next_describe = 0.0
        while not self._stopping.is_set():
            self.consumer.poll(0.1)  # serves rebalances; the records themselves are not used
            if self.clock.monotonic() < next_describe:
                continue
            next_describe = self.clock.monotonic() + DESCRIBE_INTERVAL_S
            try:
                members = self._describe()
            except (KafkaException, TimeoutError) as exc:
                log.warning("could not describe worker group %s: %s", self.group_id, exc)
                continue
            if members is not None and members != self._members:
                log.info("worker group %s is now %s", self.group_id, members)
                self._members = members
                self.on_change()

    def close(self) -> None:
        """Leave the group, so the others rebalance now rather than after the session timeout."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._members = []
        self.consumer.close()
