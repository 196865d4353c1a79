"""The built-in FileStreamSource and FileStreamSink through a real worker and broker: lines
appended to a file reach a topic, and from there another file, in order; a restarted worker
resumes the source after the last delivered line (its source offset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.connect.conftest import wait_until


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_file_source_to_topic_to_file_sink(broker: Any, worker_factory: Any, tmp_path: Path) -> None:
    source_file, sink_file = tmp_path / "in.txt", tmp_path / "out.txt"
    source_file.write_text("".join(f"line {i}\n" for i in range(50)))
    # The FileStream connectors are examples: enabled, and confined to the test's directory.
    worker = worker_factory(broker.bootstrap, **{"file.connectors.enable": "true",
                                                 "file.connectors.allowed.dirs": str(tmp_path)})
    topic = f"file-stream-{worker.port}"

    status, _ = worker.request("POST", "/connectors", {"name": "file-source", "config": {
        "connector.class": "FileStreamSource", "file": str(source_file), "topic": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
    assert status == 201, status
    status, _ = worker.request("POST", "/connectors", {"name": "file-sink", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(sink_file), "topics": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
    assert status == 201, status

    expected = [f"line {i}" for i in range(50)]
    wait_until(lambda: _lines(sink_file) == expected, 60, "the first 50 lines in the sink file")

    # Stop the worker, append more, start a new one on the same storage topics: the source
    # continues after the last delivered line, so nothing is read twice.
    overrides = dict(worker.overrides)
    worker.stop()
    with source_file.open("a") as f:
        f.write("".join(f"line {i}\n" for i in range(50, 80)))
    worker_factory(broker.bootstrap, **overrides)
    expected += [f"line {i}" for i in range(50, 80)]
    wait_until(lambda: _lines(sink_file) == expected, 60, "all 80 lines, once each, in order")


def test_file_sink_writes_each_record_before_the_offset_commit(
        broker: Any, worker_factory: Any, tmp_path: Path) -> None:
    """Kafka's FileStreamSinkTask prints each record as put() receives it; only the stream's
    flush waits for the offset commit. With offset.flush.interval.ms at its 60 s default, a
    reader tailing the file still sees every record within seconds of producing it."""
    from confluent_kafka import Producer

    sink_file = tmp_path / "tail.txt"
    worker = worker_factory(broker.bootstrap, **{"file.connectors.enable": "true",
                                                 "file.connectors.allowed.dirs": str(tmp_path),
                                                 "offset.flush.interval.ms": "60000"})
    topic = f"file-tail-{worker.port}"
    status, _ = worker.request("POST", "/connectors", {"name": "tail-sink", "config": {
        "connector.class": "FileStreamSink", "file": str(sink_file), "topics": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter"}})
    assert status == 201, status
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(3):
        producer.produce(topic, value=f"tailed {i}".encode())
        producer.flush(10)
        # Far below the 60 s commit interval: the line is there because put() wrote it.
        wait_until(lambda i=i: _lines(sink_file) == [f"tailed {j}" for j in range(i + 1)],
                   20, f"record {i} in the tailed file")
