"""A task's thread and lifecycle, shared by sink and source tasks.

Tasks block in confluent-kafka calls and in connector code, so each runs in its own thread;
the herder only flips events (stop, pause) and reads the state recorded in the status store.
A task that raises is FAILED with its traceback as ``trace``, as Kafka Connect reports it.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from brook.connect.runtime.converters import Converter, converter_configs, make_converter
from brook.connect.runtime.stores import StatusStore
from brook.connect.runtime.transformation_chain import TransformationChain
from brook.connect.runtime.worker_config import WorkerConfig
from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)


class WorkerTask(threading.Thread):
    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""

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

    def set_state(self, state: str, trace: str | None = None) -> None:
        self.state = state
        try:
            self.status.put_task(self.connector, self.task_id, state, trace)
        except Exception:
            log.exception("could not record the state of %s", self.name)

    def run(self) -> None:
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

    def pause(self) -> None:
        self.paused.set()
        self.set_state("PAUSED")

    def resume(self) -> None:
        self.paused.clear()
        self.set_state("RUNNING")
