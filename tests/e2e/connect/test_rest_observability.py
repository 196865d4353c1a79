"""A real worker and broker: health, active topics, per-task metrics on ``/metrics``, the
``[name|task-0]`` log context and a cluster-scope log level, through the REST API."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path
from typing import Any

from tests.e2e.connect.conftest import wait_until


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_topics_metrics_and_log_context(broker: Any, worker_factory: Any, tmp_path: Path) -> None:
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    source_file.write_text("".join(f"line {i}\n" for i in range(20)))
    worker = worker_factory(broker.bootstrap, **{"file.connectors.enable": "true",
                                                 "file.connectors.allowed.dirs": str(tmp_path)})
    wait_until(lambda: worker.request("GET", "/health")[0] == 200, 30, "a healthy worker")
    assert worker.request("GET", "/health")[1]["status"] == "healthy"
    topic = f"observed-{worker.port}"
    string = {"value.converter": "org.apache.kafka.connect.storage.StringConverter"}
    assert worker.request("POST", "/connectors", {"name": "src", "config": {
        "connector.class": "FileStreamSource", "file": str(source_file), "topic": topic,
        **string}})[0] == 201
    assert worker.request("POST", "/connectors", {"name": "dst", "config": {
        "connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
        **string}})[0] == 201
    wait_until(lambda: sink_file.exists() and len(sink_file.read_text().splitlines()) == 20,
               60, f"20 lines in the sink file\n{worker.output()}")

    assert worker.request("GET", "/connectors/src/topics") == (200, {"src": {"topics": [topic]}})
    assert worker.request("GET", "/connectors/dst/topics") == (200, {"dst": {"topics": [topic]}})

    sink = '{connector="dst",task="0"}'
    source = '{connector="src",task="0"}'

    def counted() -> Any:
        m = _metrics(worker.url)
        return (m.get("kafka_connect_sink_task_metrics_sink_record_read_total" + sink) == 20
                and m.get("kafka_connect_source_task_metrics_source_record_write_total"
                          + source) == 20 and m)

    m = wait_until(counted, 30, "the task counters")
    assert m["kafka_connect_sink_task_metrics_sink_record_send_total" + sink] == 20
    assert m["kafka_connect_source_task_metrics_source_record_poll_total" + source] == 20
    assert m['kafka_connect_connector_task_metrics_status{connector="dst",task="0",'
             'status="running"}'] == 1
    wait_until(lambda: _metrics(worker.url).get(
        "kafka_connect_sink_task_metrics_offset_commit_completion_total" + sink, 0) >= 1,
        30, "a sink offset commit")

    # the connectors' lines carry their context; a cluster-wide level reaches this worker
    assert re.search(r"INFO \[dst\|task-0\] brook\.connect\.runtime\.worker_task: "
                     r"WorkerSinkTask\{id=dst-0\} Executing task", worker.output())
    status, _ = worker.request("PUT", "/admin/loggers/org.apache.kafka.connect.runtime.WorkerTask"
                                      "?scope=cluster", {"level": "DEBUG"})
    assert status == 204
    wait_until(lambda: worker.request(
        "GET", "/admin/loggers/org.apache.kafka.connect.runtime.WorkerTask")[1]["level"]
        == "DEBUG", 30, "the cluster level applied")

    assert worker.request("PUT", "/connectors/dst/topics/reset")[0] == 202
    assert worker.request("GET", "/connectors/dst/topics") == (200, {"dst": {"topics": []}})
    assert worker.request("DELETE", "/connectors/dst")[0] == 204
    wait_until(lambda: "dst" not in str(_metrics(worker.url)), 30, "the sink task's metrics gone")


def test_sink_offset_reset_of_one_partition(broker: Any, worker_factory: Any,
                                            tmp_path: Path) -> None:
    from tests.e2e.connect.test_s3_sink import create_topic, produce

    worker = worker_factory(broker.bootstrap, **{"file.connectors.enable": "true",
                                                 "file.connectors.allowed.dirs": str(tmp_path)})
    topic = f"reset-one-{worker.port}"
    create_topic(broker.bootstrap, topic, 2)
    produce(broker.bootstrap, topic, [(p, b"x") for p in (0, 1) for _ in range(3)])
    sink_file = tmp_path / "out.txt"
    assert worker.request("POST", "/connectors", {"name": "dst", "config": {
        "connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})[0] == 201
    wait_until(lambda: sink_file.exists() and len(sink_file.read_text().splitlines()) == 6, 60,
               f"6 lines\n{worker.output()}")
    assert worker.request("PUT", "/connectors/dst/stop")[0] == 204

    def offsets() -> Any:
        return {o["partition"]["kafka_partition"]: o["offset"]["kafka_offset"]
                for o in worker.request("GET", "/connectors/dst/offsets")[1]["offsets"]}

    wait_until(lambda: offsets() == {0: 3, 1: 3}, 30, "both partitions committed")
    status, body = worker.request("PATCH", "/connectors/dst/offsets", {"offsets": [
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": None}]})
    assert status == 200, body
    assert offsets() == {0: 0, 1: 3}  # partition 0 starts over, as after Kafka's reset
    status, body = worker.request("PATCH", "/connectors/dst/offsets", {"offsets": []})
    assert (status, body["message"]) == (
        400, "Partitions / offsets need to be provided for an alter offsets request")
