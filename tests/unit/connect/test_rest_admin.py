"""Kafka Connect's worker-level REST endpoints on an in-process herder: active topics,
tasks-config, admin loggers, health, the full plugin listing, offsets edge cases and ``GET /``.
Expected bodies, codes and messages are Kafka's (ConnectorsResource, LoggingResource,
RootResource, ConnectorPluginsResource)."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Mapping
from typing import Any

import pytest

from brook.connect.api import (
    ConfigDef,
    SinkConnector,
    SinkTask,
    SourceConnector,
    SourceTask,
    Task,
)
from brook.connect.runtime import plugins, rest_admin
from brook.connect.runtime.herder import Herder
from brook.connect.runtime.kafka_log import MemoryLog
from brook.connect.runtime.rest import create_app
from brook.connect.runtime.sink_offsets import MemorySinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.worker_config import WorkerConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class TwoTaskSink(SinkConnector):
    def config(self) -> ConfigDef:
        return ConfigDef([])

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{"n": str(i)} for i in range(2)]

    def stop(self) -> None:
        pass


class IdleSource(SourceConnector):
    def config(self) -> ConfigDef:
        return ConfigDef([])

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return SourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return []

    def stop(self) -> None:
        pass


plugins.register("test.admin.TwoTaskSink", TwoTaskSink)
plugins.register("test.admin.IdleSource", IdleSource)
SINK = {"connector.class": "test.admin.TwoTaskSink", "topics": "t", "tasks.max": "2"}
SOURCE = {"connector.class": "test.admin.IdleSource"}


class _NoTaskHerder(Herder):
    """Tasks are not started: these tests look at the REST layer, not at task threads."""

    def _start_task(self, *args: Any) -> None:
        pass


def make(**worker: str) -> tuple[TestClient, _NoTaskHerder]:
    herder = _NoTaskHerder(WorkerConfig(worker), ConfigStore(MemoryLog()),
                           OffsetStore(MemoryLog()), StatusStore(MemoryLog(), "127.0.0.1:8083"),
                           MemorySinkOffsets())
    herder.start()
    return TestClient(create_app(herder, "cluster-1")), herder


def test_active_topics_listed_reset_and_forgotten_with_the_connector() -> None:
    c, herder = make()
    assert c.post("/connectors", json={"name": "a", "config": SINK}).status_code == 201
    assert c.get("/connectors/a/topics").json() == {"a": {"topics": []}}
    herder.status.put_topic("a", "t2", 1, 5)
    herder.status.put_topic("a", "t", 0, 7)
    herder.status.put_topic("other", "x", 0, 7)
    assert c.get("/connectors/a/topics").json() == {"a": {"topics": ["t", "t2"]}}
    # Kafka's record in the status topic, so tools reading that topic see what Kafka writes
    records = {k: v for k, v in herder.status.log.replay()}  # type: ignore[attr-defined]
    assert json.loads(records[b"status-topic-t:connector-a"]) == {"topic": {
        "name": "t", "connector": "a", "task": 0, "discoverTimestamp": 7}}
    r = c.put("/connectors/a/topics/reset")
    assert (r.status_code, r.content) == (202, b"")
    assert c.get("/connectors/a/topics").json() == {"a": {"topics": []}}
    after = dict(herder.status.log.replay())  # type: ignore[attr-defined]
    assert after[b"status-topic-t:connector-a"] is None  # tombstones, as Kafka's deleteTopic
    assert after[b"status-topic-t2:connector-a"] is None
    herder.status.put_topic("a", "t", 0, 9)
    assert c.delete("/connectors/a").status_code == 204
    assert c.get("/connectors/a/topics").json() == {"a": {"topics": []}}
    assert c.get("/connectors/other/topics").json() == {"other": {"topics": ["x"]}}


def test_topic_tracking_switches() -> None:
    c, _ = make(**{"topic.tracking.allow.reset": "false"})
    assert c.get("/connectors/a/topics").status_code == 200
    r = c.put("/connectors/a/topics/reset")
    assert (r.status_code, r.json()) == (403, {"error_code": 403,
                                               "message": "Topic tracking reset is disabled."})
    c, _ = make(**{"topic.tracking.enable": "false"})
    for r in (c.get("/connectors/a/topics"), c.put("/connectors/a/topics/reset")):
        assert (r.status_code, r.json()["message"]) == (403, "Topic tracking is disabled.")


def test_tasks_and_deprecated_tasks_config_shapes() -> None:
    c, _ = make()
    c.post("/connectors", json={"name": "a", "config": SINK})
    assert c.get("/connectors/a/tasks").json() == [
        {"id": {"connector": "a", "task": 0}, "config": {"n": "0"}},
        {"id": {"connector": "a", "task": 1}, "config": {"n": "1"}}]
    assert c.get("/connectors/a/tasks-config").json() == {"a-0": {"n": "0"}, "a-1": {"n": "1"}}
    r = c.get("/connectors/nope/tasks-config")
    assert (r.status_code, r.json()["message"]) == (404, "Connector nope not found")


def test_loggers_by_kafka_names_change_python_loggers() -> None:
    c, _ = make()
    sink_logger = logging.getLogger("brook.connect.runtime.sink_task")
    before = {name: lg.level for name, lg in logging.Logger.manager.loggerDict.items()
              if isinstance(lg, logging.Logger) and name.startswith("brook.connect.runtime")}
    try:
        r = c.put("/admin/loggers/org.apache.kafka.connect.runtime.WorkerSinkTask",
                  json={"level": "DEBUG"})
        assert (r.status_code, r.json()) == (
            200, ["org.apache.kafka.connect.runtime.WorkerSinkTask"])
        assert sink_logger.level == logging.DEBUG
        got = c.get("/admin/loggers/org.apache.kafka.connect.runtime.WorkerSinkTask").json()
        assert got["level"] == "DEBUG" and isinstance(got["last_modified"], int)
        listed = c.get("/admin/loggers").json()
        assert listed["org.apache.kafka.connect.runtime.WorkerSinkTask"]["level"] == "DEBUG"
        assert "root" in listed and listed["root"]["last_modified"] is None
        # a namespace covers the loggers below it
        changed = c.put("/admin/loggers/org.apache.kafka.connect.runtime",
                        json={"level": "TRACE"}).json()
        assert "org.apache.kafka.connect.runtime.WorkerSinkTask" in changed
        assert "org.apache.kafka.connect.runtime" in changed
        assert sink_logger.level == 5 and sink_logger.isEnabledFor(5)
        # Python names work too; an invalid scope falls back to the worker (Kafka logs a warning)
        r = c.put("/admin/loggers/brook.connect.runtime.sink_task?scope=galaxy",
                  json={"level": "warn"})
        assert r.status_code == 200 and sink_logger.level == logging.WARNING
    finally:  # the levels are the process's: put back every one the test changed
        for name, lg in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(lg, logging.Logger) and name.startswith("brook.connect.runtime"):
                lg.setLevel(before.get(name, logging.NOTSET))


def test_logger_errors_as_kafka() -> None:
    c, _ = make()
    r = c.put("/admin/loggers/root", json={})
    assert (r.status_code, r.json()["message"]) == (
        400, "Desired 'level' parameter was not specified in request.")
    r = c.put("/admin/loggers/root", json={"level": "LOUD"})
    assert (r.status_code, r.json()["message"]) == (404, "invalid log level 'LOUD'.")
    r = c.get("/admin/loggers/no.such.logger.anywhere")
    assert (r.status_code, r.json()["message"]) == (404, "Logger no.such.logger.anywhere not found.")
    assert c.get("/admin/loggers/root").json()["level"] in ("WARN", "INFO", "DEBUG", "ERROR")


def test_cluster_scope_goes_through_the_config_topic() -> None:
    c, herder = make()
    target = logging.getLogger("brook.connect.connectors.s3")
    before = target.level
    try:
        r = c.put("/admin/loggers/io.confluent.connect.s3?scope=cluster", json={"level": "ERROR"})
        assert (r.status_code, r.content) == (204, b"")
        records = dict(herder.configs.log.replay())  # type: ignore[attr-defined]
        assert json.loads(records[b"logger-cluster-io.confluent.connect.s3"]) == {"level": "ERROR"}
        assert target.level == logging.ERROR
    finally:
        target.setLevel(before)


def test_health_starting_healthy_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    herder = Herder(WorkerConfig({}), ConfigStore(MemoryLog()), OffsetStore(MemoryLog()),
                    StatusStore(MemoryLog(), "127.0.0.1:8083"), MemorySinkOffsets())
    c = TestClient(create_app(herder, "cluster-1"))
    r = c.get("/health")
    assert (r.status_code, r.json()) == (503, {"status": "starting",
                                               "message": "Worker is still starting up."})
    herder.start()
    r = c.get("/health")
    assert (r.status_code, r.json()) == (200, {
        "status": "healthy",
        "message": "Worker has completed startup and is ready to handle requests."})
    monkeypatch.setattr(rest_admin, "HEALTH_TIMEOUT_S", 0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with herder.lock:
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        r = c.get("/health")
    finally:
        release.set()
        t.join()
    assert r.status_code == 500 and r.json()["status"] == "unhealthy"
    assert r.json()["message"].startswith("Worker was unable to handle this request")


def test_plugin_listing_with_every_kind() -> None:
    c, _ = make()
    only = c.get("/connector-plugins").json()
    assert {p["type"] for p in only} == {"sink", "source"}
    assert only == c.get("/connector-plugins?connectorsOnly=true").json()
    types = [p["type"] for p in only]
    assert types == sorted(types, key=lambda t: t != "sink")  # sinks first, as Kafka
    every = c.get("/connector-plugins?connectorsOnly=false").json()
    assert every[:len(only)] == only
    by_type: dict[str, set[str]] = {}
    for p in every:
        by_type.setdefault(p["type"], set()).add(p["class"])
    assert {"org.apache.kafka.connect.json.JsonConverter",
            "org.apache.kafka.connect.storage.StringConverter",
            "org.apache.kafka.connect.converters.ByteArrayConverter"} <= by_type["converter"]
    assert "org.apache.kafka.connect.storage.SimpleHeaderConverter" in by_type["header_converter"]
    assert "JsonConverter" not in by_type["converter"]  # aliases are not plugins
    # Kafka's built-in transformations and predicates are listed with Kafka's types
    assert "org.apache.kafka.connect.transforms.Filter" in by_type["transformation"]
    assert "org.apache.kafka.connect.transforms.Cast$Value" in by_type["transformation"]
    assert "org.apache.kafka.connect.transforms.predicates.HasHeaderKey" in by_type["predicate"]
    assert "RegexRouter" not in by_type["transformation"]  # short names are not plugins


def test_alter_offsets_empty_and_null() -> None:
    c, herder = make()
    c.post("/connectors", json={"name": "s", "config": SINK})
    for body in ({"offsets": []}, {}):
        r = c.patch("/connectors/s/offsets", json=body)  # before the STOPPED check, as Kafka
        assert (r.status_code, r.json()["message"]) == (
            400, "Partitions / offsets need to be provided for an alter offsets request")
    c.put("/connectors/s/stop")

    def part(p: int) -> dict[str, Any]:
        return {"kafka_topic": "t", "kafka_partition": p}

    assert c.patch("/connectors/s/offsets", json={"offsets": [
        {"partition": part(0), "offset": {"kafka_offset": 5}},
        {"partition": part(1), "offset": {"kafka_offset": 9}}]}).status_code == 200
    r = c.patch("/connectors/s/offsets", json={"offsets": [{"partition": part(0), "offset": None}]})
    assert r.status_code == 200
    assert c.get("/connectors/s/offsets").json() == {"offsets": [
        {"partition": part(1), "offset": {"kafka_offset": 9}}]}

    c.post("/connectors", json={"name": "src", "config": SOURCE})
    c.put("/connectors/src/stop")
    file_a, file_b = {"filename": "a"}, {"filename": "b"}
    assert c.patch("/connectors/src/offsets", json={"offsets": [
        {"partition": file_a, "offset": {"position": 1}},
        {"partition": file_b, "offset": {"position": 2}}]}).status_code == 200
    assert c.patch("/connectors/src/offsets", json={"offsets": [
        {"partition": file_a, "offset": None}]}).status_code == 200
    assert c.get("/connectors/src/offsets").json() == {"offsets": [
        {"partition": file_b, "offset": {"position": 2}}]}
    tombstones = [k for k, v in herder.offsets.log.replay() if v is None]  # type: ignore[attr-defined]
    assert tombstones == [b'["src",{"filename":"a"}]']


def test_root_names_version_commit_and_cluster() -> None:
    c, _ = make()
    body = c.get("/").json()
    assert set(body) == {"version", "commit", "kafka_cluster_id"}
    assert body["kafka_cluster_id"] == "cluster-1" and body["commit"]
    assert body["commit"] == "unknown" or len(body["commit"]) == 16


def test_metrics_endpoint_has_worker_and_connector_metrics() -> None:
    c, _ = make()
    c.post("/connectors", json={"name": "a", "config": SINK})
    c.put("/connectors/a/pause")
    r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    lines = r.text.splitlines()
    assert "kafka_connect_connect_worker_metrics_connector_count 1.0" in lines
    assert "kafka_connect_connect_worker_metrics_task_count 0.0" in lines
    assert 'kafka_connect_connector_metrics_status{connector="a",status="paused"} 1.0' in lines
    assert "# TYPE kafka_connect_connect_worker_metrics_connector_count gauge" in lines
