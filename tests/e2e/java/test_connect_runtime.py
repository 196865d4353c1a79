"""Kafka's own Connect runtime (``connect-runtime``, distributed mode) against a brook broker.

``ConnectDistributed`` with a worker properties file, the JsonConverter and Kafka's
FileStream connectors, which are on the classpath (no ``plugin.path``: ``service_load``
discovery finds them through the ``META-INF/services`` manifests of ``connect-file`` and
``connect-json``). The worker creates its config, offset and status topics (compacted)
through the Admin API, runs the ``connect`` group protocol (JoinGroup protocol type
``connect``, protocols ``sessioned``/``compatible``/``default``) on brook's group coordinator,
and serves its REST API; lines flow from a source file through a topic to a sink file, also
across a restart of the broker under the running worker.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ResourceType

from tests.support.brokers import BrokerProcess, free_port
from tests.support.ck import TIMEOUT, admin, create_topic, unique_topic
from tests.support.java import JavaProcess


class Worker:
    """One Connect worker JVM and its REST API."""

    def __init__(self, bootstrap: str, tmp_path: Path, group: str,
                 extra: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.group = group
        self.topics = {kind: f"{group}-{kind}" for kind in ("configs", "offsets", "status")}
        props = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": self.topics["configs"],
            "offset.storage.topic": self.topics["offsets"],
            "status.storage.topic": self.topics["status"],
            # -1: the worker asks for the broker's default replication factor (v4+ CreateTopics).
            "config.storage.replication.factor": "-1",
            "offset.storage.replication.factor": "-1",
            "status.storage.replication.factor": "-1",
            "offset.flush.interval.ms": "500",
            "listeners": f"http://127.0.0.1:{self.port}",
            "rest.advertised.host.name": "127.0.0.1",
            "plugin.discovery": "service_load",
            **(extra or {}),
        }
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "worker.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self.proc = JavaProcess(
            "org.apache.kafka.connect.cli.ConnectDistributed", [str(path)], heap="384m",
        )

    def start(self) -> None:
        # The herder logs "Herder started" once it has read its config topic; /health answers
        # 200 once the worker has joined its group and can serve requests.
        self.proc.start("Herder started", timeout=120)
        self.wait(lambda: self.rest("GET", "/health")[0] == 200, "worker healthy")

    def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, _body(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _body(e.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            return -1, str(e)

    def wait(self, done: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert self.proc.alive(), self.proc.output()[-6000:]
            assert time.monotonic() < deadline, f"{what}:\n{self.proc.output()[-6000:]}"
            time.sleep(0.25)

    def running(self, name: str) -> bool:
        code, status = self.rest("GET", f"/connectors/{name}/status")
        return (code == 200 and status["connector"]["state"] == "RUNNING"
                and len(status["tasks"]) == 1 and status["tasks"][0]["state"] == "RUNNING")


def _body(raw: bytes) -> Any:
    """JSON as the REST API answers; the text of anything else (a Jetty error page)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


@pytest.fixture(name="worker_factory")
def fixture_worker_factory(tmp_path: Path) -> Iterator[Any]:
    workers: list[Worker] = []

    def make(bootstrap: str, group: str | None = None, **extra: str) -> Worker:
        w = Worker(bootstrap, tmp_path / f"worker{len(workers)}", group or unique_topic("connect"),
                   {k.replace("_", "."): v for k, v in extra.items()})
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.proc.stop()


def _lines(first: int, count: int) -> list[str]:
    return [f"line {i} of the source file" for i in range(first, first + count)]


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a") as f:
        f.write("".join(f"{line}\n" for line in lines))


def _sunk(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _first_occurrences(lines: list[str]) -> list[str]:
    seen: set[str] = set()
    return [x for x in lines if not (x in seen or seen.add(x))]  # type: ignore[func-returns-value]


def _create_file_connectors(w: Worker, topic: str, source: Path, sink: Path) -> None:
    code, body = w.rest("POST", "/connectors", {"name": "file-source", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "tasks.max": "1", "file": str(source), "topic": topic}})
    assert code == 201, body
    code, body = w.rest("POST", "/connectors", {"name": "file-sink", "config": {
        "connector.class": "FileStreamSink",  # the short alias, as the runtime resolves it
        "tasks.max": "1", "file": str(sink), "topics": topic}})
    assert code == 201, body
    assert body["type"] == "sink"


def test_worker_runs_file_connectors_through_brook(
    broker: BrokerProcess, tmp_path: Path, worker_factory: Any,
) -> None:
    topic = unique_topic("connect-lines")
    create_topic(broker.bootstrap, topic)
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    first = _lines(0, 50)
    _append(source, first)

    w = worker_factory(broker.bootstrap)
    w.start()
    # The worker created its internal topics through the Admin API, compacted as it requires.
    a = admin(broker.bootstrap)
    meta = a.list_topics(timeout=TIMEOUT).topics
    assert len(meta[w.topics["configs"]].partitions) == 1
    assert len(meta[w.topics["offsets"]].partitions) == 25
    assert len(meta[w.topics["status"]].partitions) == 5
    for name in w.topics.values():
        resource = ConfigResource(ResourceType.TOPIC, name)
        configs = a.describe_configs([resource])[resource].result(timeout=TIMEOUT)
        assert configs["cleanup.policy"].value == "compact", name
    # The connect group protocol: sessioned (version 2) was chosen by brook's coordinator.
    assert "with protocol version 2" in w.proc.output()
    # DescribeGroups reports the protocol type; librdkafka refuses to describe a group whose
    # type is not "consumer", naming the type it found.
    with pytest.raises(KafkaException, match=r"is not a consumer group \(connect\)"):
        a.describe_consumer_groups([w.group])[w.group].result(timeout=TIMEOUT)

    _create_file_connectors(w, topic, source, sink)
    w.wait(lambda: w.running("file-source") and w.running("file-sink"), "connectors running")
    code, listed = w.rest("GET", "/connectors")
    assert code == 200 and sorted(listed) == ["file-sink", "file-source"]
    code, tasks = w.rest("GET", "/connectors/file-sink/tasks")
    assert code == 200 and [t["id"] for t in tasks] == [{"connector": "file-sink", "task": 0}]
    assert tasks[0]["config"]["task.class"] == "org.apache.kafka.connect.file.FileStreamSinkTask"

    w.wait(lambda: _sunk(sink) == first, "the first lines in the sink file")
    second = _lines(50, 50)
    _append(source, second)
    w.wait(lambda: _sunk(sink) == first + second, "appended lines in the sink file")

    code, _ = w.rest("DELETE", "/connectors/file-source")
    assert code == 204
    w.wait(lambda: w.rest("GET", "/connectors/file-source")[0] == 404, "source deleted")
    code, listed = w.rest("GET", "/connectors")
    assert listed == ["file-sink"]
    assert " ERROR " not in w.proc.output(), w.proc.output()[-6000:]


@pytest.mark.slow
def test_worker_recovers_from_a_broker_restart_without_losing_lines(
    broker_factory: Any, tmp_path: Path, worker_factory: Any,
) -> None:
    broker = broker_factory()
    topic = unique_topic("connect-restart")
    create_topic(broker.bootstrap, topic)
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    sent = _lines(0, 30)
    _append(source, sent)
    w = worker_factory(broker.bootstrap)
    w.start()
    _create_file_connectors(w, topic, source, sink)
    w.wait(lambda: _sunk(sink) == sent, "lines before the restart")

    # Stop the broker under the running worker; the source file grows while it is down.
    assert broker.stop() == 0
    more = _lines(30, 30)
    _append(source, more)
    sent += more
    time.sleep(2)
    broker.start()
    later = _lines(60, 30)
    _append(source, later)
    sent += later

    # At-least-once: a line may arrive twice after the restart, but none is lost, and the
    # sink file holds them in the source file's order (one partition).
    w.wait(lambda: set(_sunk(sink)) >= set(sent), "every line after the restart", timeout=90)
    assert _first_occurrences(_sunk(sink)) == sent
    w.wait(lambda: w.running("file-source") and w.running("file-sink"), "tasks running again")


@pytest.mark.slow
def test_two_workers_share_the_connectors_and_take_over_from_each_other(
    broker: BrokerProcess, tmp_path: Path, worker_factory: Any,
) -> None:
    """Two workers in one connect group: the leader's assignment (incremental cooperative,
    through brook's JoinGroup/SyncGroup) spreads the connectors and tasks over both; a request
    to either worker's REST API is answered (forwarded to the leader when it must be); when
    one worker leaves, the other takes its work over once the scheduled rebalance delay
    (here 2 s) has run out, and the lines keep flowing."""
    topic = unique_topic("connect-two")
    create_topic(broker.bootstrap, topic)
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    sent = _lines(0, 20)
    _append(source, sent)
    group = unique_topic("connect-two")
    delay = {"scheduled_rebalance_max_delay_ms": "2000"}
    first = worker_factory(broker.bootstrap, group, **delay)
    first.start()
    second = worker_factory(broker.bootstrap, group, **delay)
    second.start()
    _create_file_connectors(second, topic, source, sink)
    first.wait(lambda: first.running("file-source") and first.running("file-sink"), "running")

    placed = set()
    for name in ("file-source", "file-sink"):
        code, status = second.rest("GET", f"/connectors/{name}/status")
        assert code == 200
        placed |= {status["connector"]["worker_id"], status["tasks"][0]["worker_id"]}
    assert placed == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}
    first.wait(lambda: _sunk(sink) == sent, "lines through two workers")

    second.proc.stop()
    more = _lines(20, 20)
    _append(source, more)
    sent += more
    first.wait(lambda: set(_sunk(sink)) >= set(sent), "lines after a worker left", timeout=90)
    assert _first_occurrences(_sunk(sink)) == sent
    for name in ("file-source", "file-sink"):
        code, status = first.rest("GET", f"/connectors/{name}/status")
        assert status["tasks"][0]["worker_id"] == f"127.0.0.1:{first.port}", status
