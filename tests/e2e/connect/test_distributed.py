"""Distributed mode: workers of one group share tasks and take over a SIGKILLed worker's share."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from tests.e2e.connect.conftest import S3Server, Worker, wait_until
from tests.e2e.connect.test_s3_sink import create_topic, produce, sink_config


def shared_settings() -> dict[str, str]:
    base = f"dist-{os.getpid()}-{time.monotonic_ns()}"
    return {"group.id": base, "config.storage.topic": f"{base}-configs",
            "offset.storage.topic": f"{base}-offsets", "status.storage.topic": f"{base}-status"}


def task_owners(worker: Worker, name: str) -> dict[int, str] | None:
    status, body = worker.request("GET", f"/connectors/{name}/status")
    if status != 200 or not body["tasks"]:
        return None
    if any(t["state"] != "RUNNING" for t in body["tasks"]):
        return None
    return {t["id"]: t["worker_id"] for t in body["tasks"]}


def check_exactly_once(s3: S3Server, bucket: str, topic: str, counts: list[int],
                       flush: int) -> None:
    """Every record of every partition in the store once, in offset order, in whole objects."""
    for p, count in enumerate(counts):
        seen: list[int] = []
        for key in s3.keys(bucket, f"topics/{topic}/partition={p}/"):
            start = int(key.rsplit("+", 1)[1].split(".")[0])
            values = [json.loads(line)["i"] for line in s3.read(bucket, key).decode().splitlines()]
            assert values == list(range(start, start + flush)), key
            seen += values
        assert seen == list(range(count)), f"partition {p}"


def objects_done(s3: S3Server, bucket: str, expected: int) -> bool:
    return len(s3.keys(bucket)) >= expected


@pytest.mark.slow  # SIGKILLed sink members keep their partitions for a session timeout
def test_two_workers_share_six_tasks_and_survive_sigkill(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="shared")
    topic = f"shared-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 6)
    flush, first, total = 5, 20, 40
    produce(bootstrap, topic, [(p, json.dumps({"i": i}).encode())
                               for i in range(first) for p in range(6)])
    settings = shared_settings()
    a = worker_factory(bootstrap, **settings)
    b = worker_factory(bootstrap, **settings)
    status, body = b.request("PUT", "/connectors/shared-sink/config", sink_config(
        topic, s3, "shared", **{"flush.size": str(flush), "tasks.max": "6"}))
    assert status == 201, body
    a_id, b_id = f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"
    placed = wait_until(lambda: (o := task_owners(a, "shared-sink")) and len(set(o.values())) == 2
                        and o, 60, f"tasks on both workers\n{a.output()}\n{b.output()}")
    assert sorted(placed.values()) == sorted([a_id] * 3 + [b_id] * 3)
    # Any worker answers for the connector (once the status topic has reached it).
    wait_until(lambda: task_owners(b, "shared-sink") == placed, 15, "the same status on b")
    wait_until(lambda: objects_done(s3, "shared", 6 * first // flush), 60, "first objects")

    a.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    produce(bootstrap, topic, [(p, json.dumps({"i": i}).encode())
                               for i in range(first, total) for p in range(6)])
    wait_until(lambda: (o := task_owners(b, "shared-sink")) and set(o.values()) == {b_id},
               30, f"every task on the survivor\n{b.output()}")
    # Within the session timeout (6 s) plus a rebalance and a task start.
    assert time.monotonic() - killed_at < 20
    wait_until(lambda: objects_done(s3, "shared", 6 * total // flush), 60,
               f"all objects\n{b.output()}")
    check_exactly_once(s3, "shared", topic, [total] * 6, flush)


@pytest.mark.slow  # SIGKILLed sink members keep their partitions for a session timeout
def test_ten_thousand_records_two_sigkills_exactly_once(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="tenk")
    topic = f"tenk-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 3)
    counts, flush = [3400, 3300, 3300], 100
    phases = [(0.0, 0.4), (0.4, 0.7), (0.7, 1.0)]

    def produce_phase(lo: float, hi: float) -> None:
        produce(bootstrap, topic, [(p, json.dumps({"i": i}).encode()) for p, n in enumerate(counts)
                                   for i in range(int(n * lo), int(n * hi))])

    produce_phase(*phases[0])
    worker = worker_factory(bootstrap)
    status, body = worker.request("PUT", "/connectors/tenk-sink/config", sink_config(
        topic, s3, "tenk", **{"flush.size": str(flush), "tasks.max": "3"}))
    assert status == 201, body
    for lo, hi in phases[1:]:
        wait_until(lambda lo=lo: objects_done(s3, "tenk", int(sum(counts) * lo) // flush // 2),
                   60, f"objects before the crash\n{worker.output()}")
        worker.stop(signal.SIGKILL)
        produce_phase(lo, hi)
        worker.start()
    wait_until(lambda: objects_done(s3, "tenk", sum(counts) // flush), 120,
               f"all objects\n{worker.output()}")
    check_exactly_once(s3, "tenk", topic, counts, flush)
