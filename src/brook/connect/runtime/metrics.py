"""Per-task metrics under Kafka Connect's names, in the Prometheus text format.

Kafka Connect registers, per task, the metric groups ``connector-task-metrics``,
``sink-task-metrics`` / ``source-task-metrics`` and ``task-error-metrics`` (tags ``connector``
and ``task``), and most deployments scrape them through the Prometheus JMX exporter. The
exporter's default naming turns the MBean ``kafka.connect:type=sink-task-metrics,connector=a,
task=0`` and its attribute ``sink-record-read-total`` into
``kafka_connect_sink_task_metrics_sink_record_read_total{connector="a",task="0"}``; ``GET
/metrics`` answers exactly those names, so dashboards and alerts written for Kafka Connect work
unchanged.

Averages, maxima and rates are windowed as Kafka's sampled stats are by default
(``metrics.num.samples=2`` windows of ``metrics.sample.window.ms=30000``), so a task that
stopped writing shows a rate that falls to zero rather than a lifetime average. The string
``status`` metric, which the JMX exporter skips, is a gauge of 1 with the state as a label.

A task's metrics exist while the task runs here (Kafka removes them when the task stops): the
worker that runs a task is the one to scrape for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from brook.env.clock import SYSTEM_CLOCK, Clock

WINDOW_S = 30.0
SAMPLES = 2


@dataclass
class _Sample:
    start: float
    count: int = 0
    total: float = 0.0
    max: float | None = None


@dataclass
class Windowed:
    """Kafka's ``SampledStat``: ``SAMPLES`` windows of ``WINDOW_S``; older samples expire."""

    clock: Clock
    samples: list[_Sample] = field(default_factory=list)

    def record(self, value: float) -> None:
        now = self.clock.monotonic()
        if not self.samples or now - self.samples[-1].start >= WINDOW_S:
            self.samples.append(_Sample(now))
            del self.samples[:-SAMPLES]
        s = self.samples[-1]
        s.count += 1
        s.total += value
        s.max = value if s.max is None else max(s.max, value)

    def _live(self) -> list[_Sample]:
        horizon = self.clock.monotonic() - WINDOW_S * SAMPLES
        return [s for s in self.samples if s.start >= horizon]

    def avg(self) -> float:
        live = self._live()
        count = sum(s.count for s in live)
        return sum(s.total for s in live) / count if count else float("nan")

    def max(self) -> float:
        values = [s.max for s in self._live() if s.max is not None]
        return max(values) if values else float("nan")

    def rate(self, created: float) -> float:
        """Per second over the live windows (as Kafka's ``Rate``: at least one window long)."""
        live = self._live()
        if not live:
            return 0.0
        now = self.clock.monotonic()
        elapsed = max(now - max(live[0].start, created), WINDOW_S * (SAMPLES - 1), 1e-9)
        return sum(s.total for s in live) / elapsed


class TaskMetrics:
    """One task's counters; its thread records, ``GET /metrics`` reads (under ``lock``)."""

    def __init__(self, connector: str, task_id: int, kind: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.connector, self.task_id, self.kind = connector, task_id, kind
        self.clock = clock
        self.created = clock.monotonic()
        self.lock = threading.Lock()
        self.status = "unassigned"
        self.totals: dict[str, float] = {}
        self.windows: dict[str, Windowed] = {}

    def _add(self, name: str, value: float = 1.0) -> None:
        self.totals[name] = self.totals.get(name, 0.0) + value

    def _window(self, name: str, value: float) -> None:
        self.windows.setdefault(name, Windowed(self.clock)).record(value)

    # recording (task thread) -------------------------------------------------------------

    def records_read(self, n: int) -> None:
        """Sink: records consumed from Kafka; source: records returned by ``poll``."""
        if n:
            name = "sink-record-read" if self.kind == "sink" else "source-record-poll"
            with self.lock:
                self._add(name, n)
                self._window(name, n)

    def records_written(self, n: int) -> None:
        """Sink: records handed to ``put``; source: records Kafka acknowledged."""
        if n:
            name = "sink-record-send" if self.kind == "sink" else "source-record-write"
            with self.lock:
                self._add(name, n)
                self._window(name, n)

    def batch(self, size: int, elapsed_ms: float) -> None:
        """One ``put`` (sink) or ``poll`` (source): its size and how long it took."""
        with self.lock:
            self._window("batch-size", size)
            self._window("put-batch" if self.kind == "sink" else "poll-batch", elapsed_ms)

    def commit(self, elapsed_ms: float, ok: bool) -> None:
        with self.lock:
            self._window("offset-commit-time", elapsed_ms)
            self._window("offset-commit-outcome", 1.0 if ok else 0.0)
            self._add("offset-commit-completion" if ok else "offset-commit-failure")

    def commit_skipped(self) -> None:
        with self.lock:
            self._add("offset-commit-skip")

    def record_error(self, skipped: bool) -> None:
        with self.lock:
            self._add("total-record-errors")
            self._add("total-records-skipped" if skipped else "total-record-failures")

    def dlq_produced(self) -> None:
        with self.lock:
            self._add("deadletterqueue-produce-requests")

    # reading (REST) ----------------------------------------------------------------------

    def _stat(self, name: str, how: str) -> float:
        w = self.windows.get(name)
        if w is None:
            return 0.0 if how == "rate" else float("nan")
        return w.rate(self.created) if how == "rate" else getattr(w, how)()

    def values(self) -> Iterator[tuple[str, str, float]]:
        """(group, metric, value) in Kafka's names."""
        with self.lock:
            success = self._stat("offset-commit-outcome", "avg")  # NaN without commits, as Kafka
            yield from [
                ("connector-task-metrics", "batch-size-avg", self._stat("batch-size", "avg")),
                ("connector-task-metrics", "batch-size-max", self._stat("batch-size", "max")),
                ("connector-task-metrics", "offset-commit-avg-time-ms",
                 self._stat("offset-commit-time", "avg")),
                ("connector-task-metrics", "offset-commit-max-time-ms",
                 self._stat("offset-commit-time", "max")),
                ("connector-task-metrics", "offset-commit-success-percentage", success),
                ("connector-task-metrics", "offset-commit-failure-percentage", 1.0 - success),
                ("connector-task-metrics", "offset-commit-failure-total",
                 self.totals.get("offset-commit-failure", 0.0)),
            ]
            if self.kind == "sink":
                group, read, sent, batch = ("sink-task-metrics", "sink-record-read",
                                            "sink-record-send", "put-batch")
                yield (group, "offset-commit-completion-total",
                       self.totals.get("offset-commit-completion", 0.0))
                yield (group, "offset-commit-skip-total", self.totals.get("offset-commit-skip", 0.0))
            else:
                group, read, sent, batch = ("source-task-metrics", "source-record-poll",
                                            "source-record-write", "poll-batch")
            for name in (read, sent):
                yield group, f"{name}-total", self.totals.get(name, 0.0)
                yield group, f"{name}-rate", self._stat(name, "rate")
            yield group, f"{batch}-avg-time-ms", self._stat(batch, "avg")
            yield group, f"{batch}-max-time-ms", self._stat(batch, "max")
            for name in ("total-record-errors", "total-record-failures", "total-records-skipped",
                         "deadletterqueue-produce-requests"):
                yield "task-error-metrics", name, self.totals.get(name, 0.0)


class Registry:
    """The tasks running in this worker process, by (connector, task)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, int], TaskMetrics] = {}

    def add(self, metrics: TaskMetrics) -> None:
        with self._lock:
            self._tasks[(metrics.connector, metrics.task_id)] = metrics

    def remove(self, metrics: TaskMetrics) -> None:
        with self._lock:
            if self._tasks.get((metrics.connector, metrics.task_id)) is metrics:
                del self._tasks[(metrics.connector, metrics.task_id)]

    def get(self, connector: str, task_id: int) -> TaskMetrics | None:
        with self._lock:
            return self._tasks.get((connector, task_id))

    def tasks(self) -> list[TaskMetrics]:
        with self._lock:
            return sorted(self._tasks.values(), key=lambda m: (m.connector, m.task_id))


REGISTRY = Registry()


def _name(group: str, metric: str) -> str:
    """The JMX exporter's default name: ``kafka.connect`` + ``type`` + attribute, sanitised."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", f"kafka_connect_{group}_{metric}")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    return repr(float(value)) if value != int(value) else f"{int(value)}.0"


Sample = tuple[str, str, dict[str, str], float]
"""(group, metric, labels, value): a metric the worker adds to its tasks' (``render``)."""


def render(registry: Registry = REGISTRY, extra: list[Sample] | None = None) -> str:
    """Every running task's metrics, and ``extra``, in the Prometheus text format (0.0.4)."""
    series: dict[str, list[str]] = {}
    for group, metric, tags, value in extra or []:
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in tags.items())
        series.setdefault(_name(group, metric), []).append(
            f"{{{labels}}} {_number(value)}" if labels else f" {_number(value)}")
    for m in registry.tasks():
        labels = f'connector="{_label(m.connector)}",task="{m.task_id}"'
        series.setdefault(_name("connector-task-metrics", "status"), []).append(
            f'{{{labels},status="{_label(m.status)}"}} 1.0')
        for group, metric, value in m.values():
            series.setdefault(_name(group, metric), []).append(f"{{{labels}}} {_number(value)}")
    lines: list[str] = []
    for name in sorted(series):
        kind = "counter" if name.endswith("_total") else "gauge"
        lines.append(f"# TYPE {name} {kind}")
        lines += [name + sample for sample in series[name]]
    return "\n".join(lines) + "\n" if lines else ""
