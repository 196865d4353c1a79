"""The S3 sink end to end: real broker, real worker process, moto's S3 API over HTTP."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.e2e.connect.conftest import S3Server, wait_until

JSON_FORMAT = "io.confluent.connect.s3.format.json.JsonFormat"


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[
        name].result(timeout=30)


def produce(bootstrap: str, topic: str, values: list[tuple[int, bytes]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, value in values:
        p.produce(topic, value=value, partition=partition)
    assert p.flush(30) == 0


def sink_config(topic: str, s3: S3Server, bucket: str, **extra: str) -> dict[str, str]:
    return {
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "topics": topic, "s3.bucket.name": bucket, "s3.region": "us-east-1",
        "store.url": s3.url, "aws.access.key.id": "testing", "aws.secret.access.key": "testing",
        "format.class": JSON_FORMAT, "flush.size": "3", "tasks.max": "1",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter", **extra,
    }


def test_three_records_become_one_object(bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="tutorial")
    topic = f"msk-tutorial-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 1)
    records = [{"id": i, "msg": f"hello {i}"} for i in range(3)]
    produce(bootstrap, topic, [(0, json.dumps(r).encode()) for r in records])
    worker = worker_factory(bootstrap)
    status, body = worker.request("POST", "/connectors", {
        "name": "s3-sink", "config": sink_config(topic, s3, "tutorial", **{"topics.dir": "testchamsk"})})
    assert status == 201, body
    assert body["name"] == "s3-sink" and body["type"] == "sink"
    key = f"testchamsk/{topic}/partition=0/{topic}+0+0000000000.json"
    wait_until(lambda: key in s3.keys("tutorial"), 60, f"object {key}\n{worker.output()}")
    lines = s3.read("tutorial", key).decode().splitlines()
    assert [json.loads(line) for line in lines] == records
    status, body = worker.request("GET", "/connectors/s3-sink/status")
    assert status == 200 and body["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in body["tasks"]] == ["RUNNING"]
    # The committed offset is the end of the written object, visible through KIP-875.
    offsets = wait_until(lambda: worker.request("GET", "/connectors/s3-sink/offsets")[1]["offsets"],
                         30, "committed offsets")
    assert offsets == [{"partition": {"kafka_topic": topic, "kafka_partition": 0},
                        "offset": {"kafka_offset": 3}}]


def test_sigkill_mid_run_keeps_every_record_exactly_once(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="crash")
    topic = f"crash-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 3)
    per_partition = 400
    produce(bootstrap, topic, [(p, json.dumps({"p": p, "i": i}).encode())
                               for i in range(per_partition // 2) for p in range(3)])
    # The killed task's consumer keeps its partitions until its session lapses: a short one
    # (the broker's minimum) instead of the 45 s default, which the test would only wait out.
    worker = worker_factory(bootstrap, **{"consumer.session.timeout.ms": "6000"})
    status, body = worker.request("PUT", "/connectors/crash-sink/config",
                                  sink_config(topic, s3, "crash", **{"flush.size": "7"}))
    assert status == 201, body
    wait_until(lambda: len(s3.keys("crash")) >= 10, 60, "some objects before the crash")
    worker.stop(signal.SIGKILL)
    produce(bootstrap, topic, [(p, json.dumps({"p": p, "i": i}).encode())
                               for i in range(per_partition // 2, per_partition) for p in range(3)])
    worker.start()
    full_objects = per_partition // 7
    wait_until(lambda: len(s3.keys("crash")) >= 3 * full_objects, 90,
               f"all objects after the restart\n{worker.output()}")
    for p in range(3):
        keys = s3.keys("crash", f"topics/{topic}/partition={p}/")
        seen: list[int] = []
        for key in keys:
            start = int(key.rsplit("+", 1)[1].split(".")[0])
            values = [json.loads(line) for line in s3.read("crash", key).decode().splitlines()]
            assert len(values) == 7, key
            assert [v["i"] for v in values] == list(range(start, start + 7)), key
            seen += [v["i"] for v in values]
        assert seen == list(range(full_objects * 7)), f"partition {p}"
