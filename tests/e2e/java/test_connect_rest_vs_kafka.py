"""brook's Connect REST API next to Kafka's own Connect worker (4.3.1, run from the Maven
jars), both against one brook broker: the worker-level endpoints answer with the same codes,
bodies and messages."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.connect.conftest import Worker
from tests.support.brokers import BrokerProcess, free_port
from tests.support.java import JavaProcess

# Runs Kafka's own Connect worker beside brook's: behind the slow marker, run before releases.
pytestmark = pytest.mark.slow


def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@pytest.fixture(name="tmp", scope="module")
def fixture_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("connect-vs-kafka")


@pytest.fixture(name="workers", scope="module")
def fixture_workers(broker: BrokerProcess, tmp: Path) -> Iterator[tuple[str, str]]:
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    kafka_port = free_port()
    props = tmp / "connect-distributed.properties"
    props.write_text("\n".join([
        f"bootstrap.servers={broker.bootstrap}", f"group.id=kafka-connect-{tag}",
        f"config.storage.topic=kc-configs-{tag}", f"offset.storage.topic=kc-offsets-{tag}",
        f"status.storage.topic=kc-status-{tag}", "config.storage.replication.factor=1",
        "offset.storage.replication.factor=1", "status.storage.replication.factor=1",
        "offset.storage.partitions=1", "status.storage.partitions=1",
        "key.converter=org.apache.kafka.connect.json.JsonConverter",
        "value.converter=org.apache.kafka.connect.json.JsonConverter",
        f"listeners=http://127.0.0.1:{kafka_port}", f"plugin.path={tmp}", ""]))
    kafka = JavaProcess("org.apache.kafka.connect.cli.ConnectDistributed", [str(props)],
                        heap="384m", log_level="info")
    kafka.start("Kafka Connect started", timeout=180)
    brook = Worker(broker.bootstrap, tmp, {"config.storage.topic": f"bc-configs-{tag}",
                                           "offset.storage.topic": f"bc-offsets-{tag}",
                                           "status.storage.topic": f"bc-status-{tag}",
                                           "group.id": f"brook-connect-{tag}",
                                           "offset.storage.partitions": "1",
                                           "status.storage.partitions": "1",
                                           "file.connectors.enable": "true",
                                           "file.connectors.allowed.dirs": str(tmp)})
    try:
        brook.start()
        yield f"http://127.0.0.1:{kafka_port}", brook.url
    finally:
        brook.stop()
        kafka.stop()


def both(workers: tuple[str, str], method: str, path: str, body: Any = None
         ) -> tuple[tuple[int, Any], tuple[int, Any]]:
    kafka, brook = workers
    return call(kafka, method, path, body), call(brook, method, path, body)


def test_health_and_root(workers: tuple[str, str]) -> None:
    kafka, brook = both(workers, "GET", "/health")
    assert kafka == brook == (200, {"status": "healthy", "message":
                                    "Worker has completed startup and is ready to handle requests."})
    kafka, brook = both(workers, "GET", "/")
    assert kafka[0] == brook[0] == 200 and set(kafka[1]) == set(brook[1])


def test_active_topics_of_any_name(workers: tuple[str, str]) -> None:
    assert both(workers, "GET", "/connectors/nobody/topics") == (
        (200, {"nobody": {"topics": []}}),) * 2
    kafka, brook = both(workers, "PUT", "/connectors/nobody/topics/reset")
    assert kafka == brook == (202, None)


def test_alter_offsets_without_offsets(workers: tuple[str, str]) -> None:
    for body in ({"offsets": []}, {}):
        kafka, brook = both(workers, "PATCH", "/connectors/nobody/offsets", body)
        assert kafka == brook, body
        assert kafka[0] == 400


def test_loggers(workers: tuple[str, str]) -> None:
    kafka, brook = both(workers, "GET", "/admin/loggers/root")
    assert kafka[0] == brook[0] == 200 and set(kafka[1]) == set(brook[1]) == {
        "level", "last_modified"}
    for body in ({"level": "LOUD"}, {}):
        kafka, brook = both(workers, "PUT", "/admin/loggers/org.apache.kafka.connect", body)
        assert kafka == brook, body
    kafka, brook = both(workers, "GET", "/admin/loggers/no.such.logger")
    assert kafka == brook
    name = "org.apache.kafka.connect.runtime.WorkerSinkTask"
    kafka, brook = both(workers, "PUT", f"/admin/loggers/{name}", {"level": "DEBUG"})
    assert kafka == brook == (200, [name])
    kafka, brook = both(workers, "GET", f"/admin/loggers/{name}")
    assert kafka[1]["level"] == brook[1]["level"] == "DEBUG"
    assert isinstance(kafka[1]["last_modified"], int) and isinstance(brook[1]["last_modified"], int)
    kafka, brook = both(workers, "GET", "/admin/loggers")
    assert kafka[1][name]["level"] == brook[1][name]["level"] == "DEBUG"
    kafka, brook = both(workers, "PUT", f"/admin/loggers/{name}?scope=cluster", {"level": "INFO"})
    assert kafka == brook == (204, None)


def test_plugin_kinds(workers: tuple[str, str]) -> None:
    kafka, brook = both(workers, "GET", "/connector-plugins?connectorsOnly=false")
    assert kafka[0] == brook[0] == 200
    kafka_types = {p["class"]: p["type"] for p in kafka[1]}
    brook_types = {p["class"]: p["type"] for p in brook[1]}
    shared = {c for c in brook_types if c in kafka_types}
    assert {"org.apache.kafka.connect.json.JsonConverter",
            "org.apache.kafka.connect.storage.SimpleHeaderConverter"} <= shared
    for cls in shared:  # a class both list is listed under the same kind(s)
        assert {p["type"] for p in kafka[1] if p["class"] == cls} == \
            {p["type"] for p in brook[1] if p["class"] == cls}, cls
    assert set(brook_types.values()) <= set(kafka_types.values())


def test_tasks_of_a_missing_connector(workers: tuple[str, str]) -> None:
    kafka, brook = both(workers, "GET", "/connectors/nobody/tasks")
    assert kafka == brook
    assert kafka[0] == 404


def test_a_sink_connectors_topics_and_tasks(workers: tuple[str, str], broker: BrokerProcess,
                                            tmp: Path) -> None:
    from tests.e2e.connect.conftest import wait_until
    from tests.e2e.connect.test_s3_sink import create_topic, produce

    topic = f"compared-{time.monotonic_ns()}"
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, [(0, b"a"), (0, b"b")])
    answers: dict[str, list[tuple[int, Any]]] = {}
    for base, side in zip(workers, ("kafka", "brook"), strict=True):
        name = f"cmp-{side}"  # distinct: a sink's consumer group is connect-<name>
        status, body = call(base, "PUT", f"/connectors/{name}/config", {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": str(tmp / f"{side}.txt"), "topics": topic, "tasks.max": "1",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
        assert status == 201, (side, body)
        wait_until(lambda base=base, name=name: call(base, "GET", f"/connectors/{name}/topics")
                   == (200, {name: {"topics": [topic]}}), 60, f"{side} to record {topic}")
        tasks = call(base, "GET", f"/connectors/{name}/tasks")
        assert [t["id"] for t in tasks[1]] == [{"connector": name, "task": 0}]
        reset = call(base, "PUT", f"/connectors/{name}/topics/reset")
        # Kafka applies the reset when it reads its tombstones back from the status topic
        wait_until(lambda base=base, name=name: call(base, "GET", f"/connectors/{name}/topics")
                   == (200, {name: {"topics": []}}), 30, f"{side} to forget {topic}")
        call(base, "PUT", f"/connectors/{name}/topics/reset")
        produce(broker.bootstrap, topic, [(0, b"c")])  # a running task records it again
        wait_until(lambda base=base, name=name: call(base, "GET", f"/connectors/{name}/topics")
                   == (200, {name: {"topics": [topic]}}), 30, f"{side} to record {topic} again")
        deleted = call(base, "DELETE", f"/connectors/{name}")
        time.sleep(2)
        answers[side] = [(tasks[0], sorted(tasks[1][0])), reset, deleted,
                         call(base, "GET", f"/connectors/{name}/topics")]
    kafka, brook = answers["kafka"], answers["brook"]
    assert kafka[0] == brook[0] == (200, ["config", "id"])
    assert kafka[1] == brook[1] == (202, None)
    assert kafka[2] == brook[2] == (204, None)
    assert kafka[3] == (200, {"cmp-kafka": {"topics": []}})  # a deleted connector's topics
    assert brook[3] == (200, {"cmp-brook": {"topics": []}})  # are forgotten


def test_dead_letter_queue_headers(workers: tuple[str, str], broker: BrokerProcess,
                                   tmp: Path) -> None:
    from confluent_kafka import Consumer, TopicPartition

    from tests.e2e.connect.conftest import wait_until
    from tests.e2e.connect.test_s3_sink import create_topic, produce

    topic = f"poison-{time.monotonic_ns()}"
    create_topic(broker.bootstrap, topic, 1)
    produce(broker.bootstrap, topic, [(0, b'{"n": 1}'), (0, b"not json")])
    headers: dict[str, list[tuple[str, bytes | None]]] = {}
    for base, name in zip(workers, ("kafka", "brook"), strict=True):
        dlq = f"{topic}-dlq-{name}"
        # distinct names: a sink's consumer group is connect-<name>, and both use one broker
        status, body = call(base, "PUT", f"/connectors/dlq-{name}/config", {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": str(tmp / f"dlq-{name}.txt"), "topics": topic, "tasks.max": "1",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true"})
        assert status == 201, (name, body)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"r-{name}"})
        try:
            def first(c: Any = consumer, d: str = dlq) -> Any:
                if not c.assignment():
                    c.assign([TopicPartition(d, 0, 0)])
                msg = c.poll(0.5)
                return msg if msg is not None and msg.error() is None else None

            try:
                msg = wait_until(first, 40, f"a record in {dlq}")
            except AssertionError:
                raise AssertionError(str(call(base, "GET", f"/connectors/dlq-{name}/status"))
                                     ) from None
        finally:
            consumer.close()
        assert msg.value() == b"not json"
        headers[name] = list(msg.headers())
        assert call(base, "DELETE", f"/connectors/dlq-{name}")[0] == 204
    kafka, brook = ({k: v for k, v in headers[n]} for n in ("kafka", "brook"))
    assert [k for k, _ in headers["kafka"]] == [k for k, _ in headers["brook"]]
    assert (kafka["__connect.errors.connector.name"], brook["__connect.errors.connector.name"]) \
        == (b"dlq-kafka", b"dlq-brook")
    for key in ("topic", "partition", "offset", "task.id", "stage", "class.name",
                "exception.class.name"):
        full = f"__connect.errors.{key}"
        assert kafka[full] == brook[full], (key, kafka[full], brook[full])
    for name in ("kafka", "brook"):
        trace = dict(headers[name])["__connect.errors.exception.stacktrace"]
        assert trace is not None and trace.startswith(
            b"org.apache.kafka.connect.errors.DataException: "), name
