"""Refused configurations and poison records, through the REST API of a real worker."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from tests.e2e.connect.conftest import S3Server, wait_until
from tests.e2e.connect.test_s3_sink import create_topic, produce, sink_config

VALIDATE = "/connector-plugins/io.confluent.connect.s3.S3SinkConnector/config/validate"


def errors_by_key(validation: dict[str, Any]) -> dict[str, list[str]]:
    return {c["value"]["name"]: c["value"]["errors"] for c in validation["configs"]
            if c["value"]["errors"]}


def test_bad_configs_are_refused_with_key_and_reason(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    good = sink_config("t", s3, "bkt")
    cases = {
        "s3.bucket.name": {k: v for k, v in good.items() if k != "s3.bucket.name"},
        "format.class": {**good, "format.class": "io.confluent.connect.s3.format.csv.CsvFormat"},
        "path.format": {**good, "partitioner.class":
                        "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
                        "path.format": "'year=YYYY", "partition.duration.ms": "3600000",
                        "timezone": "UTC", "locale": "en-US"},
    }
    for key, config in cases.items():
        status, body = worker.request("POST", "/connectors", {"name": f"bad-{key}", "config": config})
        assert status == 400, body
        assert body["error_code"] == 400 and key in body["message"], body
        status, body = worker.request("PUT", VALIDATE, {"name": f"bad-{key}", **config})
        assert status == 200
        errors = errors_by_key(body)
        assert list(errors) == [key], errors
        assert body["error_count"] == 1
    assert worker.request("GET", "/connectors")[1] == []
    status, body = worker.request("GET", "/connectors/nope/status")
    assert (status, body["error_code"]) == (404, 404)
    status, body = worker.request("PUT", VALIDATE, {"name": "good", **good})
    assert (status, body["error_count"]) == (200, 0)


def test_poison_record_goes_to_dlq_or_fails_the_task(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="dlq")
    topic, dlq = f"poison-{time.monotonic_ns()}", f"dlq-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [(0, b'{"n":0}'), (0, b"not json"), (0, b'{"n":1}'), (0, b'{"n":2}')])
    worker = worker_factory(bootstrap)
    tolerant = sink_config(topic, s3, "dlq", **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true"})
    assert worker.request("POST", "/connectors", {"name": "tolerant", "config": tolerant})[0] == 201
    key = f"topics/{topic}/partition=0/{topic}+0+0000000000.json"
    wait_until(lambda: key in s3.keys("dlq"), 60, f"object\n{worker.output()}")
    assert [json.loads(x) for x in s3.read("dlq", key).decode().splitlines()] == [
        {"n": 0}, {"n": 1}, {"n": 2}]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader"})
    consumer.assign([TopicPartition(topic, 0, 1)])
    original_ts = wait_until(lambda: consumer.poll(0.5), 30, "the poison record").timestamp()[1]
    consumer.assign([TopicPartition(dlq, 0, 0)])
    msg = wait_until(lambda: consumer.poll(0.5), 30, "a DLQ record")
    consumer.close()
    assert msg.value() == b"not json"
    headers = {k: v.decode() for k, v in msg.headers()}
    assert headers["__connect.errors.topic"] == topic
    assert headers["__connect.errors.partition"] == "0"
    assert headers["__connect.errors.offset"] == "1"
    assert headers["__connect.errors.stage"] == "VALUE_CONVERTER"
    assert headers["__connect.errors.connector.name"] == "tolerant"
    assert headers["__connect.errors.exception.class.name"] == \
        "org.apache.kafka.connect.errors.DataException"
    # Kafka writes the executing class's and the exception's Java names, and keeps the
    # original record's timestamp
    assert headers["__connect.errors.class.name"] == "org.apache.kafka.connect.json.JsonConverter"
    assert headers["__connect.errors.task.id"] == "0"
    assert headers["__connect.errors.exception.stacktrace"].startswith(
        "org.apache.kafka.connect.errors.DataException: ")
    assert msg.timestamp()[1] == original_ts

    strict = sink_config(topic, s3, "dlq", **{"topics.dir": "strict"})
    assert worker.request("POST", "/connectors", {"name": "strict", "config": strict})[0] == 201

    def failed() -> Any:
        tasks = worker.request("GET", "/connectors/strict/status")[1]["tasks"]
        return tasks and tasks[0]["state"] == "FAILED" and tasks[0]

    task = wait_until(failed, 60, "the strict task to fail")
    assert "Tolerance exceeded" in task["trace"]
    assert s3.keys("dlq", "strict/") == []
