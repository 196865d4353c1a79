"""brook and Kafka: restart time and idle memory with many partitions.

Create N partitions (N / per_topic topics), write one record to each, measure idle RSS and CPU,
stop with SIGTERM, start again on the same data directory and time until a Metadata request
answers (a raw request, so no client reconnect backoff is included); for Kafka also until it
logs that it started. tansu keeps its data in memory, so a restart of it is not comparable and
it is not run here; Kafka keeps its log on disk as brook does.
"""

from __future__ import annotations

import time
from typing import Any

from bench import admin, child, load, wire
from bench.procs import Broker, cpu_seconds, rss_kib

PREFIX = "bench-start-"


def grid(s: Any) -> list[dict[str, Any]]:
    return [{"partitions": s.startup_partitions, "partitions_per_topic": s.partitions_per_topic}]


def _idle(b: Broker, settle: float = 2.0, window: float = 3.0) -> tuple[float, float]:
    """(RSS MiB, CPU % of a core) of an idle broker, after `settle` seconds."""
    time.sleep(settle)
    c0 = cpu_seconds(b.pid)
    time.sleep(window)
    cpu = cpu_seconds(b.pid) - c0
    return round(rss_kib(b.pid) / 1024, 1), round(100 * cpu / window, 1)


def run(b: Broker, p: dict[str, Any], s: Any) -> dict[str, Any]:
    total: int = p["partitions"]
    per: int = max(1, min(p["partitions_per_topic"], total))
    topics: dict[str, int] = {}
    left = total
    while left > 0:
        topics[f"{PREFIX}{len(topics):05d}"] = min(per, left)
        left -= per
    out: dict[str, Any] = {"topics": len(topics)}

    t0 = time.perf_counter()
    admin.create_topics(b.bootstrap, topics, timeout=600.0)
    out["create_s"] = round(time.perf_counter() - t0, 2)
    fill = child.run(load.produce_each_partition, {"bootstrap": b.bootstrap, "topics": topics},
                     600)
    out["fill_s"] = fill["seconds"]
    if fill["undelivered"] or fill["errors"]:
        out["fill_errors"] = fill["undelivered"] + fill["errors"]
    out["idle_rss_mib_before"], out["idle_cpu_pct_before"] = _idle(b)

    stopped = b.stop(grace=120.0)
    out["shutdown_s"] = round(stopped, 2) if stopped is not None else None
    out["shutdown_clean"] = stopped is not None

    b.ready_timeout = 900.0
    took = b.start()  # returns once a Metadata request for all topics answers
    out["restart_to_metadata_s"] = round(took, 3)
    md = wire.metadata(b.port, timeout=60.0)
    out["metadata_partitions"] = md.partitions
    out["metadata_response_kib"] = round(md.response_bytes / 1024, 1)
    out["idle_rss_mib"], out["idle_cpu_pct"] = _idle(b)
    seen = admin.count_partitions(b.bootstrap, PREFIX)
    if seen != total:
        out["error"] = f"after restart the client sees {seen} of {total} partitions"
    return out
