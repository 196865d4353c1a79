"""The herder: owns connectors' lifecycle and answers every question the REST API asks.

Configuration and target state are written to the config store first and acted on second, so
what a restarted worker finds in Kafka is what the user last asked for. All mutations hold one
lock: REST calls arrive on a thread pool and must not interleave a create with a delete.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brook.connect.api import (
    ConfigValue,
    Connector,
    SinkConnector,
    SinkTask,
    SourceTask,
)
from brook.connect.runtime import connector_config, plugins
from brook.connect.runtime.sink_offsets import SinkOffsets
from brook.connect.runtime.sink_task import WorkerSinkTask
from brook.connect.runtime.source_task import WorkerSourceTask
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.worker_config import WorkerConfig
from brook.connect.runtime.worker_task import WorkerTask

log = logging.getLogger(__name__)
STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"


class RestError(Exception):
    """An error the REST layer turns into ``{"error_code": status, "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Running:
    connector: Connector | None = None
    tasks: list[WorkerTask] = field(default_factory=list)
    task_configs: list[dict[str, str]] = field(default_factory=list)


class _Context:
    def __init__(self, herder: Herder, name: str) -> None:
        self.herder, self.name = herder, name

    def request_task_reconfiguration(self) -> None:
        threading.Thread(target=self.herder.restart_connector_and_tasks, args=(self.name,),
                         daemon=True).start()

    def raise_error(self, exc: BaseException) -> None:
        self.herder.status.put_connector(self.name, "FAILED", "".join(traceback.format_exception(exc)))


class Herder:
    def __init__(self, worker: WorkerConfig, configs: ConfigStore, offsets: OffsetStore,
                 status: StatusStore, sink_offsets: SinkOffsets) -> None:
        self.worker, self.configs, self.offsets = worker, configs, offsets
        self.status, self.sink_offsets = status, sink_offsets
        self.running: dict[str, _Running] = {}
        self.lock = threading.RLock()

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            for name in list(self.configs.connectors):
                self._start_connector(name)

    def stop(self) -> None:
        with self.lock:
            for name in list(self.running):
                self._stop_connector(name)

    def _start_connector(self, name: str) -> None:
        props = self.configs.connectors[name]
        target = self.configs.target_states.get(name, STARTED)
        run = self.running.setdefault(name, _Running())
        if target == STOPPED:
            self.status.put_connector(name, "STOPPED")
            return
        try:
            cls = plugins.resolve(props["connector.class"]).load()
            base = connector_config.SINK if issubclass(cls, SinkConnector) else connector_config.SOURCE
            parsed = base.parse(props)
            connector = cls()
            connector.initialize(_Context(self, name))
            connector.start(props)
            run.connector = connector
            run.task_configs = connector.task_configs(int(parsed["tasks.max"]))
            self.configs.put_task_configs(name, run.task_configs)
        except Exception as exc:
            log.error("connector %s failed to start: %s", name, exc)
            self.status.put_connector(name, "FAILED", "".join(traceback.format_exception(exc)))
            return
        self.status.put_connector(name, "PAUSED" if target == PAUSED else "RUNNING")
        for task_id in range(len(run.task_configs)):
            self._start_task(name, task_id, parsed, cls)

    def _start_task(self, name: str, task_id: int, parsed: Mapping[str, Any],
                    cls: type[Connector]) -> None:
        run = self.running[name]
        paused = self.configs.target_states.get(name, STARTED) == PAUSED
        connector = run.connector
        assert connector is not None
        task_cls = connector.task_class()
        common = (name, task_id, parsed, run.task_configs[task_id], self.worker, self.status, paused)
        task: WorkerTask
        if issubclass(cls, SinkConnector):
            assert issubclass(task_cls, SinkTask)
            task = WorkerSinkTask(*common, task_class=task_cls, num_tasks=len(run.task_configs))
        else:
            assert issubclass(task_cls, SourceTask)
            task = WorkerSourceTask(*common, task_class=task_cls, offsets=self.offsets)
        while len(run.tasks) <= task_id:
            run.tasks.append(task)
        run.tasks[task_id] = task
        task.start()

    def _stop_tasks(self, name: str, only: set[int] | None = None) -> None:
        run = self.running.get(name)
        if run is None:
            return
        chosen = [t for t in run.tasks if only is None or t.task_id in only]
        for t in chosen:
            t.stop()
        timeout = float(self.worker.get("task.shutdown.graceful.timeout.ms")) / 1000
        for t in chosen:
            t.join(timeout)
            if t.is_alive():
                log.warning("%s did not stop within %.1fs", t.name, timeout)

    def _stop_connector(self, name: str) -> None:
        self._stop_tasks(name)
        run = self.running.pop(name, None)
        if run is not None and run.connector is not None:
            try:
                run.connector.stop()
            except Exception:
                log.exception("connector %s failed to stop", name)

    def restart_connector_and_tasks(self, name: str) -> None:
        with self.lock:
            if name in self.configs.connectors:
                self._stop_connector(name)
                self._start_connector(name)

    # validation --------------------------------------------------------------------------

    def validate(self, props: Mapping[str, Any], plugin_name: str | None = None) -> dict[str, Any]:
        """Kafka Connect's ``ConfigInfos``: every key of the framework and the plugin, with errors."""
        raw = {str(k): (None if v is None else str(v)) for k, v in props.items()}
        class_name = plugin_name or raw.get("connector.class") or ""
        if not class_name:
            raise RestError(400, "Connector config is missing connector.class")
        try:
            plugin = plugins.resolve(class_name)
            cls = plugin.load()
        except plugins.UnknownPlugin as exc:
            values = connector_config.COMMON.validate(raw)
            for v in values:
                if v.name == "connector.class":
                    v.errors.append(f"Invalid value {class_name} for configuration "
                                    f"connector.class: {exc}")
            return self._config_infos(class_name, values, {})
        raw.setdefault("connector.class", plugin.class_name)
        base = connector_config.SINK if issubclass(cls, SinkConnector) else connector_config.SOURCE
        values = base.validate(raw)
        plugin_def = cls().config()
        plugin_values = cls().validate({k: v for k, v in raw.items() if v is not None})
        keys = {**base.keys, **plugin_def.keys}
        return self._config_infos(plugin.class_name, values + plugin_values, keys)

    @staticmethod
    def _config_infos(name: str, values: list[ConfigValue], keys: Mapping[str, Any]) -> dict[str, Any]:
        configs = []
        for order, v in enumerate(values):
            key = keys.get(v.name)
            configs.append({"definition": key.definition(order) if key is not None else None,
                            "value": v.to_json()})
        groups = sorted({k.group or "Common" for k in keys.values()})
        return {"name": name, "error_count": sum(len(v.errors) for v in values),
                "groups": groups, "configs": configs}

    def _check(self, props: Mapping[str, Any]) -> None:
        infos = self.validate(props)
        errors = [e for c in infos["configs"] for e in c["value"]["errors"]]
        if errors:
            raise RestError(400, f"Connector configuration is invalid and contains the following "
                                 f"{len(errors)} error(s):\n" + "\n".join(errors) +
                            "\nYou can also find the above list of errors at the endpoint "
                            "`/connector-plugins/{connectorType}/config/validate`")

    # mutations ---------------------------------------------------------------------------

    def create(self, name: str, config: Mapping[str, Any], initial_state: str | None = None,
               allow_update: bool = False) -> bool:
        """Create (or with ``allow_update`` replace) a connector; returns True if it was new."""
        props = {str(k): str(v) for k, v in config.items() if v is not None}
        if props.setdefault("name", name) != name:
            raise RestError(400, f"Connector name configuration ({props['name']}) doesn't match "
                                 f"connector name in the URL ({name})")
        if not name.strip() or "/" in name:
            raise RestError(400, f"Connector name {name!r} is invalid")
        state = (initial_state or "RUNNING").upper()
        if state not in ("RUNNING", "PAUSED", "STOPPED"):
            raise RestError(400, f"Invalid initial state {initial_state}")
        self._check(props)
        with self.lock:
            exists = name in self.configs.connectors
            if exists and not allow_update:
                raise RestError(409, f"Connector {name} already exists")
            if exists:
                self._stop_connector(name)
            else:
                self.configs.put_target_state(name, STARTED if state == "RUNNING" else state)
            self.configs.put_connector_config(name, props)
            self._start_connector(name)
            return not exists

    def _require(self, name: str) -> dict[str, str]:
        props = self.configs.connectors.get(name)
        if props is None:
            raise RestError(404, f"Connector {name} not found")
        return props

    def delete(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self._stop_connector(name)
            self.configs.remove_connector(name)
            self.status.remove(name)

    def pause(self, name: str) -> None:
        with self.lock:
            self._require(name)
            if self.configs.target_states.get(name) == STOPPED:
                self.configs.put_target_state(name, PAUSED)
                self._start_connector(name)
                return
            self.configs.put_target_state(name, PAUSED)
            self.status.put_connector(name, "PAUSED")
            for t in self.running.get(name, _Running()).tasks:
                t.pause()

    def resume(self, name: str) -> None:
        with self.lock:
            self._require(name)
            previous = self.configs.target_states.get(name, STARTED)
            self.configs.put_target_state(name, STARTED)
            if previous == STOPPED:
                self._start_connector(name)
                return
            self.status.put_connector(name, "RUNNING")
            for t in self.running.get(name, _Running()).tasks:
                t.resume()

    def stop_connector(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self.configs.put_target_state(name, STOPPED)
            self._stop_connector(name)
            self.configs.put_task_configs(name, [])
            self.status.remove(name)
            self.status.put_connector(name, "STOPPED")
            self.running[name] = _Running()

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> dict[str, Any] | None:
        """KIP-745 restart; returns the planned state (202) unless it is a plain restart (204)."""
        with self.lock:
            self._require(name)
            if not include_tasks and not only_failed:
                self.restart_connector_and_tasks(name)
                return None
            status = self.connector_status(name)
            restart_connector = not only_failed or status["connector"]["state"] == "FAILED"
            tasks = {t["id"] for t in status["tasks"]
                     if include_tasks and (not only_failed or t["state"] == "FAILED")}
            if restart_connector:
                status["connector"]["state"] = "RESTARTING"
            for t in status["tasks"]:
                if t["id"] in tasks:
                    t["state"] = "RESTARTING"
            if restart_connector:
                self._stop_connector(name)
                self._start_connector(name)
            elif tasks:
                self._restart_tasks(name, tasks)
            return status

    def restart_task(self, name: str, task_id: int) -> None:
        with self.lock:
            self._require(name)
            run = self.running.get(name)
            if run is None or task_id >= len(run.tasks):
                raise RestError(404, f"Task {name}-{task_id} not found")
            self._restart_tasks(name, {task_id})

    def _restart_tasks(self, name: str, ids: set[int]) -> None:
        self._stop_tasks(name, ids)
        props = self.configs.connectors[name]
        cls = plugins.resolve(props["connector.class"]).load()
        base = connector_config.SINK if issubclass(cls, SinkConnector) else connector_config.SOURCE
        parsed = base.parse(props)
        for task_id in sorted(ids):
            self._start_task(name, task_id, parsed, cls)

    # views -------------------------------------------------------------------------------

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

    def connector_info(self, name: str) -> dict[str, Any]:
        props = self._require(name)
        run = self.running.get(name, _Running())
        return {"name": name, "config": dict(props), "type": self.connector_type(name),
                "tasks": [{"connector": name, "task": i} for i in range(len(run.task_configs))]}

    def task_configs(self, name: str) -> list[dict[str, Any]]:
        self._require(name)
        run = self.running.get(name, _Running())
        return [{"id": {"connector": name, "task": i}, "config": dict(cfg)}
                for i, cfg in enumerate(run.task_configs)]

    def _task_state(self, name: str, task_id: int) -> dict[str, Any]:
        doc = self.status.tasks.get((name, task_id), {"state": "UNASSIGNED", "trace": None,
                                                      "worker_id": self.status.worker_id})
        out = {"id": task_id, "state": doc["state"], "worker_id": doc["worker_id"]}
        if doc.get("trace"):
            out["trace"] = doc["trace"]
        return out

    def connector_status(self, name: str) -> dict[str, Any]:
        self._require(name)
        doc = self.status.connectors.get(name, {"state": "UNASSIGNED", "trace": None,
                                                "worker_id": self.status.worker_id})
        connector: dict[str, Any] = {"state": doc["state"], "worker_id": doc["worker_id"]}
        if doc.get("trace"):
            connector["trace"] = doc["trace"]
        run = self.running.get(name, _Running())
        return {"name": name, "connector": connector, "type": self.connector_type(name),
                "tasks": [self._task_state(name, i) for i in range(len(run.task_configs))]}

    def task_status(self, name: str, task_id: int) -> dict[str, Any]:
        self._require(name)
        if task_id >= len(self.running.get(name, _Running()).task_configs):
            raise RestError(404, f"Task {name}-{task_id} not found")
        return self._task_state(name, task_id)
