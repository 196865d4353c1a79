"""Retries with backoff and ``errors.tolerance`` (Kafka Connect's ``RetryWithToleranceOperator``).

Each fallible step of a record's way (conversion, ``put``) runs through ``ErrorHandler.execute``:
a ``RetriableException`` is retried with exponential backoff for up to ``errors.retry.timeout``;
a failure that remains is either fatal (``errors.tolerance=none``) or reported to the dead
letter queue and the record skipped (``all``). DLQ records keep the original key, value and
headers and timestamp and, with ``errors.deadletterqueue.context.headers.enable``, carry Kafka
Connect's ``__connect.errors.*`` headers so tools built for Kafka's DLQs can read them: class
names are the Java ones Kafka writes (``org.apache.kafka.connect.json.JsonConverter``,
``org.apache.kafka.connect.errors.DataException``) wherever brook implements a Kafka class, and
the stack trace is in Java's layout (``<class>: <message>`` then ``\tat`` frames and
``Caused by:``), with Python's frames.
"""

from __future__ import annotations

import enum
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from confluent_kafka import Message, Producer
from confluent_kafka.admin import AdminClient

from brook.connect.api import (
    ConfigException,
    ConnectException,
    DataException,
    RetriableException,
)
from brook.connect.runtime.converters import CONVERTERS
from brook.connect.runtime.kafka_log import ensure_topic
from brook.connect.runtime.metrics import TaskMetrics
from brook.env.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_DELAY_MIN_MS = 300
_JAVA_NAMES = {
    ConnectException: "org.apache.kafka.connect.errors.ConnectException",
    DataException: "org.apache.kafka.connect.errors.DataException",
    RetriableException: "org.apache.kafka.connect.errors.RetriableException",
    ConfigException: "org.apache.kafka.common.config.ConfigException",
}


class Stage(enum.Enum):
    KEY_CONVERTER = "KEY_CONVERTER"
    VALUE_CONVERTER = "VALUE_CONVERTER"
    HEADER_CONVERTER = "HEADER_CONVERTER"
    TRANSFORMATION = "TRANSFORMATION"
    TASK_PUT = "TASK_PUT"
    TASK_POLL = "TASK_POLL"
    KAFKA_PRODUCE = "KAFKA_PRODUCE"


class ToleranceExceeded(ConnectException):
    """The error handler gave up: the task must fail."""


def exception_class_name(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        if cls in _JAVA_NAMES:
            return _JAVA_NAMES[cls]
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def executing_class_name(executing: str) -> str:
    """The fully qualified name of the step that failed (a converter's Java class name)."""
    cls = CONVERTERS.get(executing)
    if cls is not None:
        return next((name for name, c in CONVERTERS.items() if c is cls and "." in name),
                    executing)
    return executing


def java_stacktrace(exc: BaseException) -> str:
    """``exc`` and its causes laid out as Java's ``printStackTrace`` does."""
    out: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    first = True
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        head = exception_class_name(current)
        message = str(current)
        out.append(("" if first else "Caused by: ") + (f"{head}: {message}" if message else head))
        for frame in reversed(traceback.extract_tb(current.__traceback__)):
            module = frame.filename.rsplit("/", 1)[-1]
            out.append(f"\tat {module.removesuffix('.py')}.{frame.name}({module}:{frame.lineno})")
        first = False
        current = current.__cause__ or current.__context__
    return "\n".join(out) + "\n"


class DeadLetterQueueReporter:
    def __init__(self, client_conf: Mapping[str, str], topic: str, replication: int,
                 connector: str, task_id: int, context_headers: bool) -> None:
        ensure_topic(AdminClient(dict(client_conf)), topic, 1, replication, {})
        self.topic = topic
        self.connector, self.task_id = connector, task_id
        self.context_headers = context_headers
        self.producer = Producer({**client_conf, "acks": "all", "linger.ms": 5})

    def report(self, raw: Message, stage: Stage, executing: str, error: BaseException) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            (str(k), v) for k, v in cast(list[tuple[str, Any]], raw.headers() or [])]
        if self.context_headers:
            headers += context_headers(raw, self.connector, self.task_id, stage, executing, error)
        ts_type, ts = raw.timestamp()
        extra: dict[str, Any] = {"timestamp": ts} if ts_type != 0 and ts >= 0 else {}
        self.producer.produce(self.topic, key=raw.key(), value=raw.value(), headers=headers,
                              **extra)
        self.producer.poll(0)

    def flush(self) -> None:
        """Called before offsets are committed, so a skipped record is never lost."""
        if self.producer.flush(30) > 0:
            raise ConnectException(f"timed out writing to the dead letter queue {self.topic}")

    def close(self) -> None:
        self.producer.flush(30)


def context_headers(raw: Message, connector: str, task_id: int, stage: Stage, executing: str,
                    error: BaseException) -> list[tuple[str, str | bytes | None]]:
    """Kafka's ``DeadLetterQueueReporter.populateContextHeaders``, value for value."""
    ctx: list[tuple[str, object]] = [
        ("topic", raw.topic()), ("partition", raw.partition()), ("offset", raw.offset()),
        ("connector.name", connector), ("task.id", task_id), ("stage", stage.value),
        ("class.name", executing_class_name(executing)),
        ("exception.class.name", exception_class_name(error)),
        ("exception.message", str(error) if str(error) else None),
        ("exception.stacktrace", java_stacktrace(error)),
    ]
    return [(f"__connect.errors.{k}", None if v is None else str(v).encode()) for k, v in ctx]


class ErrorHandler:
    SKIP: Any = object()

    clock: Clock = SYSTEM_CLOCK
    """Time for intervals and deadlines (the worker's door to time; tests may swap it)."""

    def __init__(self, config: Mapping[str, Any], stopping: threading.Event,
                 reporter: DeadLetterQueueReporter | None = None,
                 metrics: TaskMetrics | None = None) -> None:
        self.metrics = metrics
        self.retry_timeout_ms = int(config.get("errors.retry.timeout", 0))
        self.retry_delay_max_ms = int(config.get("errors.retry.delay.max.ms", 60000))
        self.tolerate_all = config.get("errors.tolerance", "none") == "all"
        self.log_errors = bool(config.get("errors.log.enable", False))
        self.reporter = reporter
        self.stopping = stopping
        self.errors_seen = 0

    def retry(self, op: Callable[[], T]) -> T:
        """Run ``op``, retrying ``RetriableException`` within the retry timeout; re-raise the rest."""
        start = self.clock.monotonic()
        attempt = 0
        while True:
            try:
                return op()
            except RetriableException:
                elapsed_ms = (self.clock.monotonic() - start) * 1000
                if self.retry_timeout_ms >= 0 and elapsed_ms >= self.retry_timeout_ms:
                    raise
                delay = min(RETRY_DELAY_MIN_MS << min(attempt, 16), self.retry_delay_max_ms)
                if self.retry_timeout_ms >= 0:
                    delay = int(min(delay, self.retry_timeout_ms - elapsed_ms))
                attempt += 1
                if self.stopping.wait(max(delay, 1) / 1000):
                    raise

    def execute(self, op: Callable[[], T], stage: Stage, executing: str, raw: Message | None) -> T:
        """Run a per-record step; returns ``ErrorHandler.SKIP`` when the record is tolerated away."""
        try:
            return self.retry(op)
        except Exception as exc:
            self.errors_seen += 1
            if self.metrics is not None:
                self.metrics.record_error(skipped=self.tolerate_all)
            where = "" if raw is None else f" at {raw.topic()}-{raw.partition()}@{raw.offset()}"
            if not self.tolerate_all:
                raise ToleranceExceeded(f"Tolerance exceeded in error handler: {stage.value} "
                                        f"failed{where}: {exc}") from exc
            if self.log_errors:
                log.error("error in stage %s%s (tolerated): %s", stage.value, where, exc)
            if self.reporter is not None and raw is not None:
                self.reporter.report(raw, stage, executing, exc)
                if self.metrics is not None:
                    self.metrics.dlq_produced()
            return self.SKIP  # type: ignore[no-any-return]
