"""The REST API's paths, codes and bodies, on a herder with in-memory stores."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from brook.connect.api import ConfigDef, ConfigKey, SinkConnector, SinkTask, Task, Type
from brook.connect.runtime import plugins
from brook.connect.runtime.herder import Herder
from brook.connect.runtime.kafka_log import MemoryLog
from brook.connect.runtime.rest import create_app
from brook.connect.runtime.sink_offsets import MemorySinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.worker_config import WorkerConfig

with warnings.catch_warnings():  # starlette prefers httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class IdleConnector(SinkConnector):
    """A sink with no tasks: exercises the herder without Kafka clients."""

    def config(self) -> ConfigDef:
        return ConfigDef([ConfigKey("color", Type.STRING, "red")])

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return []

    def stop(self) -> None:
        pass


CLS = "test.IdleConnector"
plugins.register(CLS, IdleConnector)
CONFIG = {"connector.class": CLS, "topics": "t"}


def client(**worker: str) -> tuple[TestClient, ConfigStore]:
    configs = ConfigStore(MemoryLog())
    herder = Herder(WorkerConfig(worker), configs, OffsetStore(MemoryLog()),
                    StatusStore(MemoryLog(), "127.0.0.1:8083"), MemorySinkOffsets())
    return TestClient(create_app(herder, "cluster-1")), configs


def test_lifecycle() -> None:
    c, configs = client()
    assert c.get("/").json()["kafka_cluster_id"] == "cluster-1"
    r = c.post("/connectors", json={"name": "a", "config": CONFIG})
    assert r.status_code == 201 and r.headers["location"] == "/connectors/a"
    assert r.json() == {"name": "a", "config": {**CONFIG, "name": "a"}, "tasks": [], "type": "sink"}
    conflict = c.post("/connectors", json={"name": "a", "config": CONFIG})
    assert conflict.status_code == 409 and conflict.json()["error_code"] == 409
    assert c.get("/connectors").json() == ["a"]
    expanded = c.get("/connectors?expand=status&expand=info").json()
    assert expanded["a"]["status"]["connector"] == {"state": "RUNNING", "worker_id": "127.0.0.1:8083"}
    assert expanded["a"]["info"]["type"] == "sink"
    assert c.put("/connectors/a/pause").status_code == 202
    assert c.get("/connectors/a/status").json()["connector"]["state"] == "PAUSED"
    assert c.put("/connectors/a/resume").status_code == 202
    assert c.put("/connectors/a/config", json={**CONFIG, "color": "blue"}).status_code == 200
    assert c.get("/connectors/a/config").json()["color"] == "blue"
    assert c.put("/connectors/b/config", json=CONFIG).status_code == 201
    assert c.post("/connectors/a/restart").status_code == 204
    r = c.post("/connectors/a/restart?includeTasks=true")
    assert r.status_code == 202 and r.json()["connector"]["state"] == "RESTARTING"
    assert c.delete("/connectors/b").status_code == 204
    assert c.get("/connectors/b").json() == {"error_code": 404, "message": "Connector b not found"}
    assert configs.connectors.keys() == {"a"}


def test_offsets_need_a_stopped_connector() -> None:
    c, configs = client()
    c.post("/connectors", json={"name": "a", "config": CONFIG})
    body = {"offsets": [{"partition": {"kafka_topic": "t", "kafka_partition": 0},
                         "offset": {"kafka_offset": 7}}]}
    assert c.patch("/connectors/a/offsets", json=body).status_code == 400
    assert c.put("/connectors/a/stop").status_code == 204
    assert configs.target_states["a"] == "STOPPED"
    assert c.get("/connectors/a/status").json()["connector"]["state"] == "STOPPED"
    assert c.patch("/connectors/a/offsets", json=body).status_code == 200
    assert c.get("/connectors/a/offsets").json() == body
    assert c.delete("/connectors/a/offsets").status_code == 200
    assert c.get("/connectors/a/offsets").json() == {"offsets": []}


def test_bad_requests_and_plugins() -> None:
    c, _ = client(**{"file.connectors.enable": "true"})
    r = c.post("/connectors", json={"name": "x", "config": {**CONFIG, "tasks.max": "0"}})
    assert r.status_code == 400 and "tasks.max" in r.json()["message"]
    r = c.post("/connectors", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    classes = {p["class"] for p in c.get("/connector-plugins").json()}
    assert "io.confluent.connect.s3.S3SinkConnector" in classes
    assert "org.apache.kafka.connect.file.FileStreamSourceConnector" in classes
    r = c.put("/connector-plugins/S3SinkConnector/config/validate",
              json={"connector.class": "FileStreamSink"})
    assert r.status_code == 400
