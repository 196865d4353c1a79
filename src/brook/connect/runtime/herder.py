"""The herder: runs this worker's share of the connectors and tasks, and answers the REST API.

Distributed mode. The config topic is the only shared state a REST call changes: every worker
writes the user's requests (configs, target states, KIP-745 restart requests) to it directly,
and every worker tails it. Kafka Connect instead forwards writes to the group leader and
answers 409 while a rebalance runs; with no leader here (``assignor``) there is nothing to
forward to, the topic serialises concurrent writes, and the last write of a key wins.

``tick`` reconciles, whenever the config topic or the worker group changes and twice a second
anyway: it computes the round-robin assignment over the live workers, stops what this worker
no longer owns (or whose config changed), and starts what it newly owns. A task moves only
once its previous owner let it go - its status in the status topic is UNASSIGNED, FAILED, ours,
or written by a worker no longer in the group - or after a grace period, so two workers rarely
run one task at once; if they do, the S3 sink's deterministic object names and commit-after-
write keep the store exactly-once. The worker that owns a connector runs the ``Connector`` and
writes its task configs; any worker can run the tasks from the committed configs.

Without a worker group (unit tests) the worker is alone and owns everything; REST calls tick
synchronously, so their effect is visible when they return.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from brook.connect.api import (
    ConnectException,
    Connector,
    SinkConnector,
    SinkTask,
    SourceTask,
    policy,
)
from brook.connect.runtime import connector_config, log_context, plugins, validation
from brook.connect.runtime.assignor import TaskId, WorkerAssignment, assign, owners
from brook.connect.runtime.config_providers import Resolver, reverse_transform
from brook.connect.runtime.forwarding import REBALANCING, forward_post, peer_url
from brook.connect.runtime.herder_views import HerderViews
from brook.connect.runtime.rest_security import client_context
from brook.connect.runtime.sink_offsets import SinkOffsets
from brook.connect.runtime.sink_task import WorkerSinkTask
from brook.connect.runtime.source_task import WorkerSourceTask
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.validation import RestError as RestError
from brook.connect.runtime.worker_config import WorkerConfig
from brook.connect.runtime.worker_task import WorkerTask
from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"
TICK_S = 0.5


@dataclass
class _Running:
    connector: Connector | None  # None: it failed to start; retried on a config change/restart
    props: dict[str, str]
    state: str


@dataclass
class _TaskRun:
    task: WorkerTask
    fingerprint: str


class _Context:
    def __init__(self, herder: Herder, name: str) -> None:
        self.herder, self.name = herder, name

    def request_task_reconfiguration(self) -> None:
        threading.Thread(target=self.herder.restart_connector_and_tasks, args=(self.name,),
                         daemon=True).start()

    def raise_error(self, exc: BaseException) -> None:
        self.herder.status.put_connector(self.name, "FAILED", "".join(traceback.format_exception(exc)))


def _load(props: Mapping[str, str]) -> tuple[type[Connector], dict[str, Any]]:
    cls = plugins.resolve(props["connector.class"]).load()
    base = connector_config.SINK if issubclass(cls, SinkConnector) else connector_config.SOURCE
    return cls, base.parse(props)


class Herder(HerderViews):
    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""

    def __init__(self, worker: WorkerConfig, configs: ConfigStore, offsets: OffsetStore,
                 status: StatusStore, sink_offsets: SinkOffsets,
                 members: Callable[[], list[str]] | None = None) -> None:
        self.worker, self.configs, self.offsets = worker, configs, offsets
        policy.install(worker.policy())
        plugins.enable_examples(bool(worker.get("file.connectors.enable")))
        self.status, self.sink_offsets = status, sink_offsets
        self.worker_id = status.worker_id
        self.members = members
        self.connectors: dict[str, _Running] = {}
        self.tasks: dict[TaskId, _TaskRun] = {}
        self.assignment: dict[str, WorkerAssignment] = {}
        self.lock = threading.RLock()
        self._deferred: dict[TaskId, float] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="herder", daemon=True)
        configs.on_change = self._wake.set
        self.grace_s = float(worker.get("task.shutdown.graceful.timeout.ms")) / 1000
        self.resolver = Resolver(worker.config_providers)
        self.started = False  # GET /health answers 503 until the first tick is done

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self.lock:
            self.tick()
        if self.members is not None and not self._stopping.is_set():
            self._thread.start()
        self.started = True

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(TICK_S)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                with self.lock:
                    self.tick()
            except Exception:
                log.exception("rebalance step failed; retrying")

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(30)
        with self.lock:
            self._stop_tasks(list(self.tasks))
            for name in list(self.connectors):
                self._stop_connector(name)

    def live_workers(self) -> list[str]:
        return [self.worker_id] if self.members is None else self.members()

    def tick(self) -> None:
        """Bring what runs here in line with the config topic and the live workers."""
        for _ in range(5):  # a connector that writes new task configs calls for another pass
            if not self._tick_once():
                return

    def _tick_once(self) -> bool:
        props, targets, task_cfgs = self.configs.snapshot()
        counts = {n: 0 if targets.get(n) == STOPPED else len(task_cfgs.get(n, [])) for n in props}
        live = self.live_workers()
        self.assignment = assign(live, counts) if self.worker_id in live else {}
        mine = self.assignment.get(self.worker_id, WorkerAssignment())
        for name, include_tasks, only_failed in self.configs.take_restarts():
            self._serve_restart(name, include_tasks, only_failed)

        def fingerprint(tid: TaskId) -> str:
            return json.dumps([props.get(tid[0]), task_cfgs.get(tid[0], [])[tid[1]]],
                              sort_keys=True)

        wanted = set(mine.tasks)
        self._stop_tasks([t for t, run in self.tasks.items()
                          if t not in wanted or run.fingerprint != fingerprint(t)])
        for name in [n for n, r in self.connectors.items() if n not in mine.connectors
                     or r.props != props.get(n) or targets.get(n) == STOPPED]:
            self._stop_connector(name)
        rewritten = False
        for name in mine.connectors:
            target = targets.get(name, STARTED)
            if target == STOPPED:
                if task_cfgs.get(name):
                    self.configs.put_task_configs(name, [])
                    rewritten = True
                if self.status.connectors.get(name, {}).get("state") != "STOPPED":
                    self.status.put_connector(name, "STOPPED")
                continue
            if name not in self.connectors:
                with log_context.scope(log_context.for_connector(name)):  # [name|worker]
                    rewritten |= self._start_connector(name, props[name], target,
                                                       task_cfgs.get(name))
            run = self.connectors[name]
            state = "PAUSED" if target == PAUSED else "RUNNING"
            if run.connector is not None and run.state != state:
                run.state = state
                self.status.put_connector(name, state)
        if rewritten:
            return True
        for tid in mine.tasks:
            paused = targets.get(tid[0]) == PAUSED
            if tid in self.tasks:
                task = self.tasks[tid].task
                if task.paused.is_set() != paused:
                    (task.pause if paused else task.resume)()
            elif self._may_start(tid, live):
                self._start_task(tid, props[tid[0]], task_cfgs[tid[0]], paused, fingerprint(tid))
        return False

    def _may_start(self, tid: TaskId, live: list[str]) -> bool:
        """Has the task's previous owner let it go (or died, or had its grace period)?"""
        doc = self.status.tasks.get(tid)
        if (doc is None or doc.get("worker_id") in (self.worker_id, None)
                or doc.get("worker_id") not in live or doc.get("state") in ("UNASSIGNED", "FAILED")):
            self._deferred.pop(tid, None)
            return True
        first = self._deferred.setdefault(tid, self.clock.monotonic())
        return self.clock.monotonic() - first > self.grace_s + TICK_S * 4

    def _start_connector(self, name: str, props: dict[str, str], target: str,
                         stored: list[dict[str, str]] | None) -> bool:
        """Start the connector; True if it wrote task configs different from the stored ones."""
        resolved, scrub = self.resolver.resolve(props)
        try:
            # A stored config meets the checks a REST request meets: the config topic is
            # writable by any Kafka client, and a config may predate the worker's policy.
            validation.check_connector_name(name)
            validation.check(props, self.resolver)
            cls, parsed = _load(resolved)
            connector = cls()
            connector.initialize(_Context(self, name))
            connector.start(resolved)
            tasks_max = int(parsed["tasks.max"])
            task_configs = reverse_transform(props, connector.task_configs(tasks_max), scrub)
            if len(task_configs) > tasks_max:  # Kafka's TooManyTasksException (KIP-1004)
                connector.stop()
                raise ConnectException(
                    f"The connector {name} has generated {len(task_configs)} tasks, which is "
                    f"greater than {tasks_max}, the maximum number of tasks it is configured to "
                    f"create (tasks.max)")
        except Exception as exc:
            log.error("connector %s failed to start: %s", name, scrub(str(exc)))
            self.connectors[name] = _Running(None, dict(props), "FAILED")
            self.status.put_connector(name, "FAILED",
                                      scrub("".join(traceback.format_exception(exc))))
            return False
        state = "PAUSED" if target == PAUSED else "RUNNING"
        self.connectors[name] = _Running(connector, dict(props), state)
        self.status.put_connector(name, state)
        if task_configs != (stored or []):
            self.configs.put_task_configs(name, task_configs)
            return True
        return False

    def _start_task(self, tid: TaskId, props: dict[str, str], configs: list[dict[str, str]],
                    paused: bool, fingerprint: str) -> None:
        name, task_id = tid
        resolved, scrub = self.resolver.resolve(props)
        task_props, scrub_task = self.resolver.resolve(configs[task_id])
        try:
            validation.check(props, self.resolver)  # as in _start_connector: may not own it
            cls, parsed = _load(resolved)
            task_cls = cls().task_class()
        except Exception as exc:
            log.error("task %s-%d cannot start: %s", name, task_id, scrub(str(exc)))
            self.status.put_task(name, task_id, "FAILED",
                                 scrub("".join(traceback.format_exception(exc))))
            return
        common = (name, task_id, parsed, task_props, self.worker, self.status, paused)
        task: WorkerTask
        if issubclass(cls, SinkConnector):
            assert issubclass(task_cls, SinkTask)
            task = WorkerSinkTask(*common, task_class=task_cls, num_tasks=len(configs))
        else:
            assert issubclass(task_cls, SourceTask)
            task = WorkerSourceTask(*common, task_class=task_cls, offsets=self.offsets)
        task.scrub = lambda text: scrub_task(scrub(text))
        self.tasks[tid] = _TaskRun(task, fingerprint)
        task.start()

    def _stop_tasks(self, tids: list[TaskId]) -> None:
        runs = [self.tasks.pop(t) for t in tids if t in self.tasks]
        for run in runs:
            run.task.stop()
        for run in runs:
            run.task.join(self.grace_s)
            if run.task.is_alive():
                log.warning("%s did not stop within %.1fs", run.task.name, self.grace_s)

    def _stop_connector(self, name: str) -> None:
        run = self.connectors.pop(name, None)
        if run is not None and run.connector is not None:
            try:
                run.connector.stop()
            except Exception:
                log.exception("connector %s failed to stop", name)

    def _serve_restart(self, name: str, include_tasks: bool, only_failed: bool) -> None:
        """Stop what the request restarts and this worker owns; the tick starts it again."""
        run = self.connectors.get(name)
        if run is not None and (not only_failed or run.connector is None
                                or self.status.connectors.get(name, {}).get("state") == "FAILED"):
            self._stop_connector(name)
        if include_tasks:
            self._stop_tasks([t for t in self.tasks if t[0] == name and (
                not only_failed or self.status.tasks.get(t, {}).get("state") == "FAILED")])

    def restart_connector_and_tasks(self, name: str) -> None:
        with self.lock:
            if name in self.configs.connectors:
                self.configs.put_restart_request(name, True, False)
                self.tick()

    # mutations ---------------------------------------------------------------------------

    def validate(self, props: Mapping[str, Any], plugin_name: str | None = None) -> dict[str, Any]:
        return validation.validate(props, plugin_name, self.resolver)

    def create(self, name: str, config: Mapping[str, Any], initial_state: str | None = None,
               allow_update: bool = False) -> bool:
        """Create (or with ``allow_update`` replace) a connector; returns True if it was new."""
        validation.check_connector_name(name)
        props = {str(k): str(v) for k, v in config.items() if v is not None}
        if props.setdefault("name", name) != name:
            raise RestError(400, f"Connector name configuration ({props['name']}) doesn't match "
                                 f"connector name in the URL ({name})")
        state = (initial_state if isinstance(initial_state, str) else "RUNNING").upper()
        if (initial_state is not None and not isinstance(initial_state, str)) or \
                state not in ("RUNNING", "PAUSED", "STOPPED"):
            raise RestError(400, f"Invalid initial state {initial_state}")
        validation.check(props, self.resolver)
        with self.lock:
            exists = name in self.configs.connectors
            if exists and not allow_update:
                raise RestError(409, f"Connector {name} already exists")
            if not exists:
                self.configs.put_target_state(name, STARTED if state == "RUNNING" else state)
            self.configs.put_connector_config(name, props)
            self.tick()
            return not exists

    def delete(self, name: str) -> None:
        with self.lock:
            self._require(name)
            self.configs.remove_connector(name)
            self.tick()
            self.status.remove(name)
            self.status.reset_topics(name)  # as Kafka forgets a deleted connector's topics

    def _set_target(self, name: str, state: str) -> None:
        with self.lock:
            self._require(name)
            self.configs.put_target_state(name, state)
            self.tick()

    def pause(self, name: str) -> None:
        self._set_target(name, PAUSED)

    def resume(self, name: str) -> None:
        self._set_target(name, STARTED)

    def stop_connector(self, name: str) -> None:
        self._set_target(name, STOPPED)

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> dict[str, Any] | None:
        """KIP-745 restart; returns the planned state (202) unless it is a plain restart (204)."""
        with self.lock:
            self._require(name)
            status = self.connector_status(name)
            self.configs.put_restart_request(name, include_tasks, only_failed)
            self.tick()
            if not include_tasks and not only_failed:
                return None
            if not only_failed or status["connector"]["state"] == "FAILED":
                status["connector"]["state"] = "RESTARTING"
            for t in status["tasks"]:
                if include_tasks and (not only_failed or t["state"] == "FAILED"):
                    t["state"] = "RESTARTING"
            return status

    def restart_task(self, name: str, task_id: int, authorization: str | None = None) -> None:
        """Restart one task where it runs: here, or forwarded to its owner's REST API.

        The caller's ``Authorization`` goes along, as Kafka forwards the user's headers.
        """
        with self.lock:
            self.task_status(name, task_id)
            owner = owners(self.assignment).get((name, task_id))
            if owner == self.worker_id:
                self._stop_tasks([(name, task_id)])
                self.tick()
                return
        if owner is None:
            raise RestError(409, REBALANCING)
        url = peer_url(self.worker.listener.scheme, owner,
                       f"/connectors/{urllib.parse.quote(name, safe='')}/tasks/{task_id}/restart")
        forward_post(url, authorization, client_context(self.worker))
