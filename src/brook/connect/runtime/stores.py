"""The worker's three stores, in the record formats of Kafka Connect's distributed mode.

* config topic: ``connector-<name>`` -> ``{"properties": {...}}`` (a tombstone deletes),
  ``target-state-<name>`` -> ``{"state": "STARTED"|"PAUSED"|"STOPPED"}``,
  ``task-<name>-<n>`` -> ``{"properties": {...}}`` and ``commit-<name>`` -> ``{"tasks": n}``;
* offset topic (source connectors): key ``["<name>", {partition}]`` -> ``{offset}``;
* status topic: ``status-connector-<name>`` / ``status-task-<name>-<n>`` ->
  ``{"state", "trace", "worker_id", "generation"}``.

Keeping Kafka's formats means a user who inspects these topics sees what Kafka would write.
Sink offsets are not here: as in Kafka Connect they are the consumer group ``connect-<name>``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from brook.connect.runtime.kafka_log import BackingLog


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class ConfigStore:
    def __init__(self, log: BackingLog) -> None:
        self.log = log
        self.connectors: dict[str, dict[str, str]] = {}
        self.target_states: dict[str, str] = {}
        self.task_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        for key, value in log.replay():
            self._apply(key.decode(), None if value is None else json.loads(value))

    def _apply(self, key: str, doc: Any) -> None:
        if key.startswith("connector-"):
            name = key[len("connector-"):]
            if doc is None:
                self.connectors.pop(name, None)
                self.target_states.pop(name, None)
                self.task_counts.pop(name, None)
            else:
                self.connectors[name] = {str(k): str(v) for k, v in doc["properties"].items()}
        elif key.startswith("target-state-") and doc is not None:
            self.target_states[key[len("target-state-"):]] = str(doc["state"])
        elif key.startswith("commit-") and doc is not None:
            self.task_counts[key[len("commit-"):]] = int(doc["tasks"])

    def _write(self, key: str, doc: Any) -> None:
        with self._lock:
            self.log.send(key.encode(), None if doc is None else _dump(doc))
            self._apply(key, doc)

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
    """Connector and task states; this worker is the writer, readers are REST and operators."""

    def __init__(self, log: BackingLog, worker_id: str) -> None:
        self.log = log
        self.worker_id = worker_id
        self.connectors: dict[str, dict[str, Any]] = {}
        self.tasks: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def put_connector(self, name: str, state: str, trace: str | None = None) -> None:
        doc = {"state": state, "trace": trace, "worker_id": self.worker_id, "generation": 0}
        with self._lock:
            self.connectors[name] = doc
        self.log.send(f"status-connector-{name}".encode(), _dump(doc))

    def put_task(self, name: str, task: int, state: str, trace: str | None = None) -> None:
        doc = {"state": state, "trace": trace, "worker_id": self.worker_id, "generation": 0}
        with self._lock:
            self.tasks[(name, task)] = doc
        self.log.send(f"status-task-{name}-{task}".encode(), _dump(doc))

    def remove(self, name: str) -> None:
        with self._lock:
            self.connectors.pop(name, None)
            for key in [k for k in self.tasks if k[0] == name]:
                del self.tasks[key]
