"""The herder's read side: what ``GET`` endpoints of the REST API answer, on any worker.

Everything here comes from the config and status topics (tailed by every worker) and the
current assignment, never from what runs locally, so every worker gives the same answer for
every connector, wherever its tasks run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brook.connect.api import SinkConnector
from brook.connect.runtime import plugins
from brook.connect.runtime.assignor import TaskId, WorkerAssignment, owners
from brook.connect.runtime.stores import ConfigStore, StatusStore
from brook.connect.runtime.validation import RestError


class HerderViews:
    configs: ConfigStore
    status: StatusStore
    worker_id: str
    assignment: dict[str, WorkerAssignment]

    def _require(self, name: str) -> dict[str, str]:
        props = self.configs.connectors.get(name)
        if props is None:
            raise RestError(404, f"Connector {name} not found")
        return props


    def connector_names(self) -> list[str]:
        return sorted(self.configs.connectors)

    def connector_config(self, name: str) -> dict[str, str]:
        return dict(self._require(name))

    def connector_type(self, name: str) -> str:
        props = self._require(name)
        try:
            cls = plugins.resolve(props["connector.class"]).load()
        except (plugins.UnknownPlugin, ImportError):
            return "unknown"
        return "sink" if issubclass(cls, SinkConnector) else "source"

    def _task_configs(self, name: str) -> list[dict[str, str]]:
        return list(self.configs.task_configs.get(name, []))

    def connector_info(self, name: str) -> dict[str, Any]:
        props = self._require(name)
        return {"name": name, "config": dict(props), "type": self.connector_type(name),
                "tasks": [{"connector": name, "task": i}
                          for i in range(len(self._task_configs(name)))]}

    def task_configs(self, name: str) -> list[dict[str, Any]]:
        self._require(name)
        return [{"id": {"connector": name, "task": i}, "config": dict(cfg)}
                for i, cfg in enumerate(self._task_configs(name))]

    def _state(self, doc: Mapping[str, Any] | None, unit: str | TaskId) -> dict[str, Any]:
        if doc is None:
            doc = {"state": "UNASSIGNED", "trace": None,
                   "worker_id": owners(self.assignment).get(unit, self.worker_id)}
        out = {"state": doc["state"], "worker_id": doc["worker_id"]}
        if doc.get("trace"):
            out["trace"] = doc["trace"]
        return out

    def connector_status(self, name: str) -> dict[str, Any]:
        self._require(name)
        tasks = [{"id": i, **self._state(self.status.tasks.get((name, i)), (name, i))}
                 for i in range(len(self._task_configs(name)))]
        return {"name": name, "connector": self._state(self.status.connectors.get(name), name),
                "type": self.connector_type(name), "tasks": tasks}

    def task_status(self, name: str, task_id: int) -> dict[str, Any]:
        self._require(name)
        if not 0 <= task_id < len(self._task_configs(name)):
            raise RestError(404, f"Task {name}-{task_id} not found")
        return {"id": task_id, **self._state(self.status.tasks.get((name, task_id)),
                                             (name, task_id))}
