"""What a task exposes about itself: Prometheus metrics under the JMX exporter's names for
Kafka's metrics, the ``[name|task-0]`` log context, and the DLQ context headers Kafka writes."""

from __future__ import annotations

import io
import json
import logging
import math
import threading

from confluent_kafka import Message

from brook.connect.api import DataException
from brook.connect.runtime import log_context, metrics
from brook.connect.runtime.converters import JsonConverter
from brook.connect.runtime.errors import Stage, context_headers


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now_ms(self) -> int:
        return int(self.t * 1000)


def _parse(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_sink_task_metrics_in_prometheus_text() -> None:
    clock = FakeClock()
    registry = metrics.Registry()
    m = metrics.TaskMetrics('s3 "x"', 0, "sink", clock)  # type: ignore[arg-type]
    m.status = "running"
    registry.add(m)
    m.records_read(10)
    m.batch(10, 40.0)
    m.records_written(10)
    clock.t += 1
    m.records_read(4)
    m.batch(4, 10.0)
    m.records_written(4)
    m.commit(12.0, ok=True)
    m.commit(30.0, ok=False)
    m.commit_skipped()
    m.record_error(skipped=True)
    text = metrics.render(registry)
    values = _parse(text)
    labels = '{connector="s3 \\"x\\"",task="0"}'
    assert values["kafka_connect_sink_task_metrics_sink_record_read_total" + labels] == 14
    assert values["kafka_connect_sink_task_metrics_sink_record_send_total" + labels] == 14
    assert values["kafka_connect_sink_task_metrics_put_batch_avg_time_ms" + labels] == 25
    assert values["kafka_connect_sink_task_metrics_put_batch_max_time_ms" + labels] == 40
    assert values["kafka_connect_connector_task_metrics_batch_size_avg" + labels] == 7
    assert values["kafka_connect_connector_task_metrics_batch_size_max" + labels] == 10
    assert values["kafka_connect_connector_task_metrics_offset_commit_avg_time_ms" + labels] == 21
    assert values["kafka_connect_connector_task_metrics_offset_commit_max_time_ms" + labels] == 30
    assert values["kafka_connect_connector_task_metrics_offset_commit_success_percentage"
                  + labels] == 0.5
    assert values["kafka_connect_connector_task_metrics_offset_commit_failure_percentage"
                  + labels] == 0.5
    assert values["kafka_connect_sink_task_metrics_offset_commit_completion_total" + labels] == 1
    assert values["kafka_connect_sink_task_metrics_offset_commit_skip_total" + labels] == 1
    assert values["kafka_connect_task_error_metrics_total_records_skipped" + labels] == 1
    assert values['kafka_connect_connector_task_metrics_status{connector="s3 \\"x\\"",task="0",'
                  'status="running"}'] == 1
    assert "# TYPE kafka_connect_sink_task_metrics_sink_record_read_total counter" in text
    # rates and windowed stats forget what is older than two 30 s windows, as Kafka's do
    assert values["kafka_connect_sink_task_metrics_sink_record_read_rate" + labels] > 0
    clock.t += 61
    values = _parse(metrics.render(registry))
    assert values["kafka_connect_sink_task_metrics_sink_record_read_rate" + labels] == 0
    assert values["kafka_connect_sink_task_metrics_sink_record_read_total" + labels] == 14
    registry.remove(m)
    assert metrics.render(registry) == ""


def test_source_task_metric_names() -> None:
    registry = metrics.Registry()
    m = metrics.TaskMetrics("src", 3, "source")
    registry.add(m)
    m.records_read(5)
    m.records_written(2)
    m.batch(5, 3.0)
    values = _parse(metrics.render(registry))
    labels = '{connector="src",task="3"}'
    assert values["kafka_connect_source_task_metrics_source_record_poll_total" + labels] == 5
    assert values["kafka_connect_source_task_metrics_source_record_write_total" + labels] == 2
    assert values["kafka_connect_source_task_metrics_poll_batch_max_time_ms" + labels] == 3
    assert not any("sink_task_metrics" in k for k in values)
    # no commit yet: Kafka's Avg over no samples is NaN
    assert math.isnan(values["kafka_connect_connector_task_metrics_offset_commit_success_percentage"
                             + labels])


def test_task_threads_log_with_their_connector_context() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("test.log_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    log_context.install(logger)  # type: ignore[arg-type]
    try:
        def task() -> None:
            log_context.enter(log_context.for_task("s3-sink", 2))
            logger.info("wrote an object")

        t = threading.Thread(target=task)
        t.start()
        t.join()
        logger.info("outside")
        class Task:
            connector, task_id = "s3-sink", 2

            @log_context.offsets
            def commit(self) -> None:
                logger.info("committing")

        Task().commit()
    finally:
        logger.removeHandler(handler)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("INFO [s3-sink|task-2] test.log_context: wrote an object")
    assert lines[1].endswith("INFO test.log_context: outside")
    assert "[s3-sink|task-2|offsets] " in lines[2]


def test_dlq_context_headers_are_kafkas() -> None:
    raw = Message(topic="orders", partition=3, offset=41, key=b"k", value=b"not json",
                  timestamp=(1, 1700000000000))
    try:
        JsonConverter().to_connect_data("orders", b"not json")
    except DataException as exc:
        error = exc
    headers = dict(context_headers(raw, "sink-a", 1, Stage.VALUE_CONVERTER, "JsonConverter",
                                   error))
    decoded = {k: None if v is None else bytes(v).decode() for k, v in headers.items()}
    assert list(decoded) == [
        "__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
        "__connect.errors.connector.name", "__connect.errors.task.id", "__connect.errors.stage",
        "__connect.errors.class.name", "__connect.errors.exception.class.name",
        "__connect.errors.exception.message", "__connect.errors.exception.stacktrace"]
    assert decoded["__connect.errors.topic"] == "orders"
    assert decoded["__connect.errors.partition"] == "3"
    assert decoded["__connect.errors.offset"] == "41"
    assert decoded["__connect.errors.task.id"] == "1"
    assert decoded["__connect.errors.stage"] == "VALUE_CONVERTER"
    assert decoded["__connect.errors.class.name"] == "org.apache.kafka.connect.json.JsonConverter"
    assert decoded["__connect.errors.exception.class.name"] == \
        "org.apache.kafka.connect.errors.DataException"
    trace = decoded["__connect.errors.exception.stacktrace"]
    assert trace is not None
    first, *frames = trace.splitlines()
    assert first == "org.apache.kafka.connect.errors.DataException: " + str(error)
    assert frames and all(f.startswith(("\tat ", "Caused by: ")) for f in frames)
    assert any(f.startswith("Caused by: builtins.JSONDecodeError")
               or f.startswith("Caused by: json.decoder.JSONDecodeError") for f in frames)
    assert json.dumps(decoded)  # every value is text


def test_active_topics_recorded_once_and_again_after_a_reset() -> None:
    from brook.connect.runtime.kafka_log import MemoryLog
    from brook.connect.runtime.stores import StatusStore
    from brook.connect.runtime.worker_config import WorkerConfig
    from brook.connect.runtime.worker_task import WorkerTask

    status = StatusStore(MemoryLog(), "127.0.0.1:8083")
    task = WorkerTask("c", 1, {}, {}, WorkerConfig({}), status, False)
    for _ in range(3):
        task.record_active_topic("t")
    written = [k for k, _ in status.log.replay()]  # type: ignore[attr-defined]
    assert written == [b"status-topic-t:connector-c"]
    assert status.topics["c"]["t"]["task"] == 1
    status.reset_topics("c")
    task.record_active_topic("t")  # a running task goes on using the topic
    assert status.active_topics("c") == ["t"]
    off = WorkerTask("d", 0, {}, {}, WorkerConfig({"topic.tracking.enable": "false"}), status,
                     False)
    off.record_active_topic("t")
    assert status.active_topics("d") == []
