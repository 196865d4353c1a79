"""Topic administration through confluent-kafka's AdminClient (identical for both brokers)."""

from __future__ import annotations

import time
from typing import Any

import confluent_kafka.admin as kadmin
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.cimpl import NewTopic


def admin(bootstrap: str) -> Any:
    return kadmin.AdminClient({"bootstrap.servers": bootstrap, "client.id": "bench-admin"})


def create_topics(bootstrap: str, topics: dict[str, int], config: dict[str, str] | None = None,
                  timeout: float = 60.0, batch: int = 100) -> None:
    """Create topics ({name: partitions}) and wait until metadata shows every partition led."""
    a = admin(bootstrap)
    names = list(topics)
    for i in range(0, len(names), batch):
        chunk = [NewTopic(n, topics[n], 1, config=dict(config or {})) for n in names[i:i + batch]]
        futures = a.create_topics(chunk, request_timeout=timeout, operation_timeout=timeout)
        for name, fut in futures.items():
            try:
                fut.result(timeout=timeout)
            except Exception as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise RuntimeError(f"create topic {name}: {e}") from e
    wait_for_leaders(a, topics, timeout)


def wait_for_leaders(a: Any, topics: dict[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    missing: list[str] = list(topics)
    while time.monotonic() < deadline:
        md = a.list_topics(timeout=max(1.0, min(10.0, deadline - time.monotonic())))
        missing = []
        for name, parts in topics.items():
            t = md.topics.get(name)
            if t is None or t.error is not None or len(t.partitions) != parts or any(
                    p.leader < 0 for p in t.partitions.values()):
                missing.append(name)
        if not missing:
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics without leaders after {timeout:.0f}s: {missing[:5]}")


def count_partitions(bootstrap: str, prefix: str, timeout: float = 30.0) -> int:
    md = admin(bootstrap).list_topics(timeout=timeout)
    return sum(len(t.partitions) for name, t in md.topics.items() if name.startswith(prefix))


def end_offsets(bootstrap: str, topic: str, partitions: int, timeout: float = 10.0) -> int:
    """Sum of high watermarks over the topic's partitions."""
    c: Any = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets",
                       "enable.auto.commit": False})
    try:
        total = 0
        for p in range(partitions):
            _low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            total += high
        return total
    finally:
        c.close()
