"""The worker's three stores, in the record formats of Kafka Connect's distributed mode.

* config topic: ``connector-<name>`` -> ``{"properties": {...}}`` (a tombstone deletes),
  ``target-state-<name>`` -> ``{"state": "STARTED"|"PAUSED"|"STOPPED"}``,
  ``task-<name>-<n>`` -> ``{"properties": {...}}``, ``commit-<name>`` -> ``{"tasks": n}`` (task
  configs take effect only when committed, so no worker sees half a set) and
  ``restart-connector-<name>`` -> ``{"include-tasks": bool, "only-failed": bool}`` (KIP-745: the
  workers that own the connector or its tasks carry the restart out);
* offset topic (source connectors): key ``["<name>", {partition}]`` -> ``{offset}``;
* status topic: ``status-connector-<name>`` / ``status-task-<name>-<n>`` ->
  ``{"state", "trace", "worker_id", "generation"}``.

Keeping Kafka's formats means a user who inspects these topics sees what Kafka would write.
Sink offsets are not here: as in Kafka Connect they are the consumer group ``connect-<name>``.

Each store replays its topic at start and then tails it, so writes made by any worker of the
group reach every worker; a worker applies its own writes at once as well, so a REST call sees
its own effect without waiting for the round trip.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from brook.connect.runtime.kafka_log import BackingLog


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _task_key(rest: str) -> tuple[str, int] | None:
    name, sep, task = rest.rpartition("-")
    return (name, int(task)) if sep and task.isdigit() else None


class ConfigStore:
    def __init__(self, log: BackingLog) -> None:
        self.log = log
        self.connectors: dict[str, dict[str, str]] = {}
        self.target_states: dict[str, str] = {}
        self.task_counts: dict[str, int] = {}
        self.task_configs: dict[str, list[dict[str, str]]] = {}
        self._pending: dict[str, dict[int, dict[str, str]]] = {}
        self.restarts: list[tuple[str, bool, bool]] = []
        self.on_change: Callable[[], None] = lambda: None
        self.lock = threading.RLock()
        for key, value in log.replay():
            self._apply(key.decode(), None if value is None else json.loads(value))
        self.restarts.clear()  # requests older than this worker were served by their owners
        log.tail(self._tailed)

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        with self.lock:
            self._apply(key.decode(), None if value is None else json.loads(value))
        self.on_change()

    def _apply(self, key: str, doc: Any) -> None:
        if key.startswith("connector-"):
            name = key[len("connector-"):]
            if doc is None:
                for table in (self.connectors, self.target_states, self.task_counts,
                              self.task_configs, self._pending):
                    table.pop(name, None)
            else:
                self.connectors[name] = {str(k): str(v) for k, v in doc["properties"].items()}
        elif key.startswith("target-state-") and doc is not None:
            self.target_states[key[len("target-state-"):]] = str(doc["state"])
        elif key.startswith("task-") and doc is not None:
            task = _task_key(key[len("task-"):])
            if task is not None:
                self._pending.setdefault(task[0], {})[task[1]] = {
                    str(k): str(v) for k, v in doc["properties"].items()}
        elif key.startswith("commit-") and doc is not None:
            name, count = key[len("commit-"):], int(doc["tasks"])
            pending = self._pending.get(name, {})
            self.task_counts[name] = count
            self.task_configs[name] = [dict(pending.get(i, {})) for i in range(count)]
        elif key.startswith("restart-connector-") and doc is not None:
            self.restarts.append((key[len("restart-connector-"):],
                                  bool(doc.get("include-tasks")), bool(doc.get("only-failed"))))

    def _write(self, key: str, doc: Any) -> None:
        with self.lock:
            self.log.send(key.encode(), None if doc is None else _dump(doc))
            self._apply(key, doc)
        self.on_change()

    def snapshot(self) -> tuple[dict[str, dict[str, str]], dict[str, str],
                                dict[str, list[dict[str, str]]]]:
        """Consistent copies of (connector configs, target states, committed task configs)."""
        with self.lock:
            return (dict(self.connectors), dict(self.target_states),
                    {k: list(v) for k, v in self.task_configs.items()})

    def take_restarts(self) -> list[tuple[str, bool, bool]]:
        with self.lock:
            out, self.restarts = self.restarts, []
            return out

    def put_restart_request(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        self._write(f"restart-connector-{name}",
                    {"include-tasks": include_tasks, "only-failed": only_failed})

    def put_connector_config(self, name: str, props: Mapping[str, str]) -> None:
        self._write(f"connector-{name}", {"properties": dict(props)})

    def put_target_state(self, name: str, state: str) -> None:
        self._write(f"target-state-{name}", {"state": state})

    def put_task_configs(self, name: str, configs: list[dict[str, str]]) -> None:
        for i, cfg in enumerate(configs):
            self._write(f"task-{name}-{i}", {"properties": cfg})
        self._write(f"commit-{name}", {"tasks": len(configs)})

    def remove_connector(self, name: str) -> None:
        self._write(f"connector-{name}", None)
        self.target_states.pop(name, None)


class OffsetStore:
    """Source offsets, last write per (connector, source partition) wins."""

    def __init__(self, log: BackingLog) -> None:
        self.log = log
        self.offsets: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        for key, value in log.replay():
            self._apply(key, None if value is None else json.loads(value))
        log.tail(self._tailed)  # a source task that moves here resumes from its last offsets

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        with self._lock:
            self._apply(key, None if value is None else json.loads(value))

    def _apply(self, key: bytes, offset: Any) -> None:
        try:
            name, partition = json.loads(key)
        except (ValueError, TypeError):
            return
        per = self.offsets.setdefault(str(name), {})
        pkey = json.dumps(partition, sort_keys=True)
        if offset is None:
            per.pop(pkey, None)
        else:
            per[pkey] = offset

    def put(self, name: str, partition: Mapping[str, Any], offset: Mapping[str, Any] | None) -> None:
        key = _dump([name, dict(partition)])
        with self._lock:
            self.log.send(key, None if offset is None else _dump(dict(offset)))
            self._apply(key, None if offset is None else dict(offset))

    def get(self, name: str, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        value = self.offsets.get(name, {}).get(json.dumps(dict(partition), sort_keys=True))
        return dict(value) if value is not None else None

    def all(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(json.loads(p), dict(o)) for p, o in self.offsets.get(name, {}).items()]


class StatusStore:
    """Connector and task states, written by the worker that runs each, read by every worker.

    ``UNASSIGNED`` is written "safely" (Kafka Connect's ``putSafe``): it is dropped, by the
    writer and by every reader, when the entry already belongs to another worker. A worker that
    gives a task up then cannot overwrite the RUNNING state its new owner wrote first.
    """

    def __init__(self, log: BackingLog, worker_id: str) -> None:
        self.log = log
        self.worker_id = worker_id
        self.connectors: dict[str, dict[str, Any]] = {}
        self.tasks: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()
        for key, value in log.replay():
            self._apply(key.decode(), None if value is None else json.loads(value))
        log.tail(self._tailed)

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        self._apply(key.decode(), None if value is None else json.loads(value))

    def _apply(self, key: str, doc: Any) -> bool:
        table: dict[Any, dict[str, Any]]
        entry: Any
        if key.startswith("status-connector-"):
            table, entry = self.connectors, key[len("status-connector-"):]
        else:
            entry = _task_key(key[len("status-task-"):])
            if not key.startswith("status-task-") or entry is None:
                return False
            table = self.tasks
        with self._lock:
            if doc is None:
                table.pop(entry, None)
                return True
            current = table.get(entry)
            if (doc.get("state") == "UNASSIGNED" and current is not None
                    and current.get("worker_id") != doc.get("worker_id")):
                return False
            table[entry] = doc
            return True

    def put_connector(self, name: str, state: str, trace: str | None = None) -> None:
        doc = {"state": state, "trace": trace, "worker_id": self.worker_id, "generation": 0}
        key = f"status-connector-{name}"
        if self._apply(key, doc):
            self.log.send(key.encode(), _dump(doc))

    def put_task(self, name: str, task: int, state: str, trace: str | None = None) -> None:
        doc = {"state": state, "trace": trace, "worker_id": self.worker_id, "generation": 0}
        key = f"status-task-{name}-{task}"
        if self._apply(key, doc):
            self.log.send(key.encode(), _dump(doc))

    def remove(self, name: str) -> None:
        with self._lock:
            self.connectors.pop(name, None)
            for key in [k for k in self.tasks if k[0] == name]:
                del self.tasks[key]
