"""The worker's three stores, in the record formats of Kafka Connect's distributed mode.

* config topic: ``connector-<name>`` -> ``{"properties": {...}}`` (a tombstone deletes),
  ``target-state-<name>`` -> ``{"state": "STARTED"|"PAUSED"|"STOPPED"}``,
  ``task-<name>-<n>`` -> ``{"properties": {...}}``, ``commit-<name>`` -> ``{"tasks": n}`` (task
  configs take effect only when committed, so no worker sees half a set) and
  ``restart-connector-<name>`` -> ``{"include-tasks": bool, "only-failed": bool}`` (KIP-745: the
  workers that own the connector or its tasks carry the restart out) and
  ``logger-cluster-<namespace>`` -> ``{"level": ...}`` (applied by every worker that reads it
  after it started);
* offset topic (source connectors): key ``["<name>", {partition}]`` -> ``{offset}``;
* status topic: ``status-connector-<name>`` / ``status-task-<name>-<n>`` ->
  ``{"state", "trace", "worker_id", "generation"}``; ``status-topic-<topic>:connector-<name>``
  -> ``{"topic": {"name", "connector", "task", "discoverTimestamp"}}`` (active topics).

Keeping Kafka's formats means a user who inspects these topics sees what Kafka would write.
Sink offsets are not here: as in Kafka Connect they are the consumer group ``connect-<name>``.

Each store replays its topic at start and then tails it, so writes made by any worker of the
group reach every worker; a worker applies its own writes at once as well, so a REST call sees
its own effect without waiting for the round trip.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from brook.connect.runtime.kafka_log import BackingLog

log = logging.getLogger(__name__)
TOPIC_PREFIX, TOPIC_SEPARATOR = "status-topic-", ":connector-"


def _read(topic: str, key: bytes, value: bytes | None,
          apply: Callable[[str, Any], object]) -> None:
    """Decode one record and apply it; skip (and log) a record this worker cannot read.

    The storage topics are writable by any Kafka client with access to them, so a record may be
    anything; as Kafka's backing stores do, a worker logs it and goes on rather than failing
    to start (replay) or to follow the topic (tail).
    """
    try:
        doc = None if value is None else json.loads(value)
        apply(key.decode(), doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.error("skipping a record of the %s topic that cannot be read (key %r): %s: %s",
                  topic, key[:200], type(exc).__name__, exc)


def _props(doc: Any) -> dict[str, str]:
    properties = doc["properties"]
    if not isinstance(properties, dict):
        raise TypeError("properties must be an object")
    return {str(k): str(v) for k, v in properties.items()}


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
        self.on_logger_level: Callable[[str, str], object] = lambda namespace, level: None
        self.started = False
        self.lock = threading.RLock()
        for key, value in log.replay():
            _read("config", key, value, self._apply)
        self.restarts.clear()  # requests older than this worker were served by their owners
        self.started = True  # logger levels older than this worker are not applied (as Kafka)
        log.tail(self._tailed)

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        with self.lock:
            _read("config", key, value, self._apply)
        self.on_change()

    def _apply(self, key: str, doc: Any) -> None:
        if key.startswith("connector-"):
            name = key[len("connector-"):]
            if doc is None:
                for table in (self.connectors, self.target_states, self.task_counts,
                              self.task_configs, self._pending):
                    table.pop(name, None)
            else:
                self.connectors[name] = _props(doc)
        elif key.startswith("target-state-") and doc is not None:
            state = doc["state"]
            if state not in ("STARTED", "PAUSED", "STOPPED"):
                raise ValueError(f"unknown target state {state!r}")
            self.target_states[key[len("target-state-"):]] = state
        elif key.startswith("task-") and doc is not None:
            task = _task_key(key[len("task-"):])
            if task is not None:
                self._pending.setdefault(task[0], {})[task[1]] = _props(doc)
        elif key.startswith("commit-") and doc is not None:
            name, count = key[len("commit-"):], doc["tasks"]
            pending = self._pending.get(name, {})
            if not isinstance(count, int) or count < 0 or \
                    any(i not in pending for i in range(min(count, len(pending) + 1))):
                # Kafka's "inconsistent" task configs: a commit is applied only with every task
                # config it counts already written, so it cannot claim more than exists.
                raise ValueError(f"commit of {count!r} tasks, but task configs "
                                 f"{sorted(pending)[:10]} were written")
            self.task_counts[name] = count
            self.task_configs[name] = [dict(pending[i]) for i in range(count)]
        elif key.startswith("logger-cluster-") and isinstance(doc, dict):
            if not isinstance(doc.get("level"), str):
                raise TypeError("a logger level record is {\"level\": \"...\"}")
            if self.started:
                self.on_logger_level(key[len("logger-cluster-"):], doc["level"])
        elif key.startswith("restart-connector-") and isinstance(doc, dict):
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

    def put_logger_level(self, namespace: str, level: str) -> None:
        self._write(f"logger-cluster-{namespace}", {"level": level})

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
            _read("offset", key, value, self._apply)
        log.tail(self._tailed)  # a source task that moves here resumes from its last offsets

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        with self._lock:
            _read("offset", key, value, self._apply)

    def _apply(self, key: str | bytes, offset: Any) -> None:
        name, partition = json.loads(key)
        if not isinstance(partition, dict) or not (offset is None or isinstance(offset, dict)):
            raise TypeError("an offset record is [name, {partition}] -> {offset}")
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
        self.topics: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        for key, value in log.replay():
            _read("status", key, value, self._apply)
        log.tail(self._tailed)

    def _tailed(self, key: bytes, value: bytes | None) -> None:
        _read("status", key, value, self._apply)

    def _apply(self, key: str, doc: Any) -> bool:
        if doc is not None and not isinstance(doc, dict):
            raise TypeError("a status record is an object")
        table: dict[Any, dict[str, Any]]
        entry: Any
        if key.startswith(TOPIC_PREFIX):
            return self._apply_topic(key, doc)
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

    def _apply_topic(self, key: str, doc: Any) -> bool:
        topic, sep, connector = key[len(TOPIC_PREFIX):].partition(TOPIC_SEPARATOR)
        if not sep:
            raise ValueError("a topic status key is status-topic-<topic>:connector-<name>")
        if doc is not None and not isinstance(doc.get("topic"), dict):
            raise TypeError("a topic status record is {\"topic\": {...}}")
        with self._lock:
            if doc is None:
                self.topics.get(connector, {}).pop(topic, None)
            else:
                self.topics.setdefault(connector, {})[topic] = dict(doc["topic"])
        return True

    def put_topic(self, connector: str, topic: str, task: int, discovered_ms: int) -> None:
        """Record that a task of ``connector`` used ``topic`` (Kafka's ``TopicStatus``)."""
        key = f"{TOPIC_PREFIX}{topic}{TOPIC_SEPARATOR}{connector}"
        doc = {"topic": {"name": topic, "connector": connector, "task": task,
                         "discoverTimestamp": discovered_ms}}
        self._apply(key, doc)
        self.log.send(key.encode(), _dump(doc))

    def active_topics(self, connector: str) -> list[str]:
        with self._lock:
            return sorted(self.topics.get(connector, {}))

    def reset_topics(self, connector: str) -> None:
        for topic in self.active_topics(connector):
            key = f"{TOPIC_PREFIX}{topic}{TOPIC_SEPARATOR}{connector}"
            self._apply(key, None)
            self.log.send(key.encode(), None)

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
