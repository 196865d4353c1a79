"""Helpers for consumer-group tests with confluent-kafka: members that record what they own
and read, and waits that poll every member so rebalances make progress."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

TIMEOUT = 30.0


@dataclass
class Member:
    """A group consumer that commits each record it reads (so a partition's next owner
    starts right after it) and counts the rebalances it sees."""

    name: str
    consumer: Consumer
    seen: list[tuple[int, int]] = field(default_factory=list)
    revokes: int = 0
    assigns: int = 0
    pending: dict[int, int] = field(default_factory=dict)
    topic: str = ""

    def poll_once(self, timeout: float = 0.05) -> None:
        msgs = self.consumer.consume(num_messages=100, timeout=timeout)
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(err)
            self.seen.append((m.partition(), m.offset()))
            self.pending[m.partition()] = m.offset() + 1
        self.flush_commits()

    def flush_commits(self, partitions: Sequence[int] | None = None) -> None:
        todo = {p: o for p, o in self.pending.items() if partitions is None or p in partitions}
        if not todo:
            return
        try:
            self.consumer.commit(offsets=[TopicPartition(self.topic, p, o)
                                          for p, o in todo.items()], asynchronous=False)
        except KafkaException:
            return  # e.g. REBALANCE_IN_PROGRESS: retried after the next poll
        for p, o in todo.items():
            if self.pending.get(p) == o:
                del self.pending[p]

    def owned(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}


def make_member(name: str, bootstrap: str, group: str, topic: str, **conf: Any) -> Member:
    base: dict[str, Any] = {
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 200, "fetch.wait.max.ms": 50, "client.id": name,
    }
    member = Member(name, Consumer({**base, **conf}), topic=topic)

    def on_assign(c: Consumer, parts: list[TopicPartition]) -> None:
        member.assigns += 1

    def on_revoke(c: Consumer, parts: list[TopicPartition]) -> None:
        member.revokes += 1
        # Hand over cleanly: what was read from a revoked partition is committed first.
        revoked = [tp.partition for tp in parts]
        for _ in range(20):
            member.flush_commits(revoked)
            if not any(p in member.pending for p in revoked):
                break
            time.sleep(0.05)

    member.consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    return member


def poll_until(members: Sequence[Member], cond: Callable[[], bool], what: str,
               timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.poll_once()
        if cond():
            return
    raise TimeoutError(f"{what} within {timeout}s: "
                       + ", ".join(f"{m.name}={sorted(m.owned())}" for m in members))


def balanced(members: Sequence[Member], partitions: int) -> Callable[[], bool]:
    """Every partition owned by exactly one member, and every member owning some."""
    def check() -> bool:
        owned = [m.owned() for m in members]
        total = sum(len(o) for o in owned)
        union = set().union(*owned)
        return total == partitions and union == set(range(partitions)) and all(owned)
    return check
