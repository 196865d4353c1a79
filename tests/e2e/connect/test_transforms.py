"""Transformation chains and config providers through a real worker and broker.

A FileStreamSource wraps each line into a map, adds a field and renames the topic on the way
in (before the converter); a FileStreamSink drops tombstones with a predicate and takes the
line back out (after the converter, before ``put``). The sink's file path comes from a
``${file:...}`` reference: resolved for the task, shown as written by the REST API.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.e2e.connect.conftest import wait_until

T = "org.apache.kafka.connect.transforms."
JSON = {"value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false"}


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_chains_predicates_and_a_file_secret(bootstrap: str, worker_factory: Any,
                                             tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    (secrets / "sink.properties").write_text(f"path={sink_file}\n")
    source_file.write_text("".join(f"line {i}\n" for i in range(20)))
    worker = worker_factory(bootstrap, **{
        "file.connectors.enable": "true", "file.connectors.allowed.dirs": str(tmp_path),
        "config.providers": "file",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        "config.providers.file.param.allowed.paths": str(secrets)})
    raw, clean = f"smt-{worker.port}-raw", f"smt-{worker.port}-clean"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name, future in admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in (raw, clean)]).items():
        future.result(timeout=30)

    status, body = worker.request("POST", "/connectors", {"name": "smt-source", "config": {
        "connector.class": "FileStreamSource", "file": str(source_file), "topic": raw, **JSON,
        "transforms": "hoist,origin,route",
        "transforms.hoist.type": T + "HoistField$Value", "transforms.hoist.field": "line",
        "transforms.origin.type": T + "InsertField$Value",
        "transforms.origin.static.field": "origin", "transforms.origin.static.value": "file",
        "transforms.route.type": T + "RegexRouter", "transforms.route.regex": "(.*)-raw",
        "transforms.route.replacement": "$1-clean"}})
    assert status == 201, body
    reference = f"${{file:{secrets}/sink.properties:path}}"
    sink_config = {
        "connector.class": "FileStreamSink", "file": reference, "topics": clean, **JSON,
        "transforms": "dropTombstones,unwrap", "predicates": "isTombstone",
        "transforms.dropTombstones.type": T + "Filter",
        "transforms.dropTombstones.predicate": "isTombstone",
        "transforms.unwrap.type": T + "ExtractField$Value", "transforms.unwrap.field": "line",
        "predicates.isTombstone.type":
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"}
    status, body = worker.request("POST", "/connectors", {"name": "smt-sink",
                                                          "config": sink_config})
    assert status == 201, body

    # The source's records reached the renamed topic as maps with the inserted field.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{worker.port}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([clean])
    seen: list[Any] = []

    def twenty() -> bool:
        for msg in consumer.consume(50, timeout=0.5):
            if msg.error() is None:
                seen.append(json.loads(msg.value()))
        return len(seen) >= 20

    wait_until(twenty, 60, "20 transformed records in the renamed topic")
    consumer.close()
    assert seen[:3] == [{"line": f"line {i}", "origin": "file"} for i in range(3)]

    # A tombstone in the topic is dropped by the predicated Filter; the rest reach the file.
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(clean, value=None)
    producer.produce(clean, value=json.dumps({"line": "after the tombstone"}).encode())
    assert producer.flush(30) == 0
    expected = [f"line {i}" for i in range(20)] + ["after the tombstone"]
    wait_until(lambda: _lines(sink_file) == expected, 60, "the unwrapped lines in the sink file")

    # The reference is stored and shown as written; the resolved path is nowhere in REST.
    assert worker.request("GET", "/connectors/smt-sink/config") == (200, {
        **sink_config, "name": "smt-sink"})
    for path in ("/connectors/smt-sink/tasks", "/connectors/smt-sink/status",
                 "/connectors/smt-sink"):
        status, body = worker.request("GET", path)
        assert status == 200 and str(sink_file) not in json.dumps(body), (path, body)
    status, tasks = worker.request("GET", "/connectors/smt-sink/tasks")
    assert tasks[0]["config"]["file"] == reference

    # A resolved value that fails a check is reported as its reference, never as the value.
    (secrets / "outside.properties").write_text("path=/etc/brook-not-allowed/out.txt\n")
    outside = f"${{file:{secrets}/outside.properties:path}}"
    status, body = worker.request("POST", "/connectors", {"name": "smt-outside", "config": {
        **sink_config, "file": outside}})
    assert status == 400 and outside in body["message"], body
    assert "brook-not-allowed" not in body["message"], body


def test_bad_transform_configs_are_refused(bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    base = {"connector.class": "S3SinkConnector", "name": "bad", "topics": "t",
            "s3.bucket.name": "bkt",
            "flush.size": "1", "format.class": "io.confluent.connect.s3.format.json.JsonFormat"}
    status, body = worker.request("POST", "/connectors", {"name": "bad", "config": {
        **base, "transforms": "x", "transforms.x.type": "com.example.NotThere"}})
    assert status == 400 and ("Invalid value com.example.NotThere for configuration "
                              "transforms.x.type: Class com.example.NotThere could not be found."
                              in body["message"]), body
    status, body = worker.request(
        "PUT", "/connector-plugins/S3SinkConnector/config/validate",
        {**base, "transforms": "r", "transforms.r.type": T + "RegexRouter",
         "transforms.r.regex": "(unclosed"})
    assert status == 200, body
    errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"]
              if c["value"]["errors"]}
    assert set(errors) == {"transforms.r.regex", "transforms.r.replacement"}, errors
    assert worker.request("GET", "/connectors") == (200, [])


def test_s3_sink_chain_masks_filters_and_tolerates(bootstrap: str, s3: Any, worker_factory: Any,
                                                   tmp_path: Path) -> None:
    """Into S3: unwrap, mask and a header-predicated filter; the record the chain cannot take
    goes to the dead letter queue with the TRANSFORMATION stage, the secret key comes from a
    file reference."""
    from tests.e2e.connect.test_s3_sink import create_topic, sink_config

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "s3.properties").write_text("secret=testing\n")
    bucket, topic = "smt-masked", f"smt-orders-{time.monotonic_ns()}"
    dlq = topic + "-dlq"
    s3.client.create_bucket(Bucket=bucket)
    create_topic(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, (value, headers) in enumerate([
            ({"order": {"id": 1, "card": "4111-1111"}}, []),
            ({"order": {"id": 2, "card": "5500-0000"}}, [("skip", b"1")]),
            ("not an order", []),
            ({"order": {"id": 3, "card": "3400-0000"}}, []),
            ({"order": {"id": 4, "card": "6011-0000"}}, [])]):
        producer.produce(topic, key=str(i).encode(), value=json.dumps(value).encode(),
                         headers=headers)
    assert producer.flush(30) == 0
    worker = worker_factory(bootstrap, **{
        "config.providers": "file",
        "config.providers.file.class": "FileConfigProvider",
        "config.providers.file.param.allowed.paths": str(secrets)})
    reference = f"${{file:{secrets}/s3.properties:secret}}"
    config = sink_config(topic, s3, bucket, **{
        "aws.secret.access.key": reference,
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true",
        "transforms": "skip,unwrap,mask", "predicates": "marked",
        "transforms.skip.type": T + "Filter", "transforms.skip.predicate": "marked",
        "transforms.unwrap.type": T + "ExtractField$Value", "transforms.unwrap.field": "order",
        "transforms.mask.type": T + "MaskField$Value", "transforms.mask.fields": "card",
        "predicates.marked.type": "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        "predicates.marked.name": "skip"})
    status, body = worker.request("POST", "/connectors", {"name": "smt-s3", "config": config})
    assert status == 201, body
    key = f"topics/{topic}/partition=0/{topic}+0+0000000000.json"
    wait_until(lambda: key in s3.keys(bucket), 60, f"the object\n{worker.output()}")
    assert [json.loads(x) for x in s3.read(bucket, key).decode().splitlines()] == [
        {"id": 1, "card": ""}, {"id": 3, "card": ""}, {"id": 4, "card": ""}]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dlq-{topic}"})
    consumer.assign([KafkaTopicPartition(dlq, 0, 0)])
    msg = wait_until(lambda: consumer.poll(0.5), 30, "a DLQ record")
    consumer.close()
    headers = {k: v.decode() for k, v in msg.headers()}
    assert msg.value() == b'"not an order"'
    assert headers["__connect.errors.stage"] == "TRANSFORMATION"
    assert headers["__connect.errors.class.name"] == T + "ExtractField$Value"
    assert headers["__connect.errors.offset"] == "2"
    assert worker.request("GET", "/connectors/smt-s3/config")[1]["aws.secret.access.key"] == \
        reference
