"""A task's thread and lifecycle, shared by sink and source tasks.

Tasks block in confluent-kafka calls and in connector code, so each runs in its own thread;
the herder only flips events (stop, pause) and reads the state recorded in the status store.
A task that raises is FAILED with its traceback as ``trace``, as Kafka Connect reports it.

While it runs, the thread logs under the connector's logging context (``[name|task-0] ``,
``log_context``), and its metrics are in the worker's registry (``metrics``). The topics it
reads or writes are recorded once each as the connector's active topics (Kafka's
``topic.tracking.enable``) in the status topic.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from brook.connect.runtime import log_context, metrics
from brook.connect.runtime.converters import Converter, converter_configs, make_converter
from brook.connect.runtime.stores import StatusStore
from brook.connect.runtime.transformation_chain import TransformationChain
from brook.connect.runtime.worker_config import WorkerConfig
from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


class WorkerTask(threading.Thread):
    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""
    kind = "sink"
    """Which of Kafka's task metric groups this task has (``sink``/``source``-task-metrics)."""

    def __init__(self, connector: str, task_id: int, connector_config: Mapping[str, Any],
                 task_props: Mapping[str, str], worker: WorkerConfig, status: StatusStore,
                 paused: bool) -> None:
        super().__init__(name=f"task-{connector}-{task_id}", daemon=True)
        self.connector, self.task_id = connector, task_id
        self.connector_config = dict(connector_config)
        self.task_props = {str(k): str(v) for k, v in task_props.items()}
        self.worker = worker
        self.status = status
        self.stopping = threading.Event()
        self.paused = threading.Event()
        if paused:
            self.paused.set()
        self.state = "UNASSIGNED"
        self.scrub: Callable[[str], str] = str
        """Puts config provider references back in place of resolved secrets (traces, logs)."""
        self.chain = TransformationChain([])
        """The connector's transformations; configured when the task starts (``run``)."""
        self.metrics = metrics.TaskMetrics(connector, task_id, self.kind, self.clock)
        self._track_topics = bool(worker.get("topic.tracking.enable"))

    def converters(self) -> tuple[Converter, Converter]:
        """Key and value converters: the connector's own if it names one, else the worker's.

        As in Kafka Connect, ``value.converter.*`` settings of the connector apply only when the
        connector also sets ``value.converter``; otherwise the worker's converter and settings do.
        """
        own = {k: str(v) for k, v in self.connector_config.items() if v is not None}
        result: list[Converter] = []
        for which in ("key.converter", "value.converter"):
            if self.connector_config.get(which):
                cls, scope = str(self.connector_config[which]), own
            else:
                cls, scope = str(self.worker.get(which)), self.worker.originals
            result.append(make_converter(cls, converter_configs(scope, which),
                                         which == "key.converter"))
        return result[0], result[1]

    def record_active_topic(self, topic: str) -> None:
        """Kafka's ``recordActiveTopic``: written unless the status topic already has it.

        The status store is asked each time (a dict lookup), not a cache of this task's: after
        a reset, a running task records the topics it goes on using, as in Kafka.
        """
        if self._track_topics and topic not in self.status.topics.get(self.connector, {}):
            self.status.put_topic(self.connector, topic, self.task_id, self.clock.now_ms())

    def set_state(self, state: str, trace: str | None = None) -> None:
        self.state = state
        self.metrics.status = state.lower()
        try:
            self.status.put_task(self.connector, self.task_id, state, trace)
        except Exception:
            log.exception("could not record the state of %s", self.name)

    def start(self) -> None:
        metrics.REGISTRY.add(self.metrics)  # until stopped: a FAILED task shows as failed
        super().start()

    def run(self) -> None:
        log_context.enter(log_context.for_task(self.connector, self.task_id))
        log.info("%s{id=%s-%d} Executing task", type(self).__name__, self.connector, self.task_id)
        self.set_state("PAUSED" if self.paused.is_set() else "RUNNING")
        try:
            self.chain = TransformationChain.from_config(self.connector_config)
            self.execute()
        except Exception as exc:
            log.error("%s failed: %s", self.name, self.scrub(str(exc)))
            self.set_state("FAILED", self.scrub("".join(traceback.format_exception(exc))))
            return
        finally:
            self.chain.close()
        if self.state != "FAILED":
            self.set_state("UNASSIGNED")

    def execute(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        metrics.REGISTRY.remove(self.metrics)

    def pause(self) -> None:
        self.paused.set()
        self.set_state("PAUSED")

    def resume(self) -> None:
        self.paused.clear()
        self.set_state("RUNNING")
