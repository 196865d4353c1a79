"""Attacks on a worker's REST API from the same network, each against a real worker process
(loopback only) with a real broker, and each refused: code execution through a class name,
files written outside the allowed directories, S3 objects outside the store, an oversized
body, names that break paths. After each, the worker is alive and serves a bystander."""

from __future__ import annotations

import json
import os
import select
import socket
import time
import urllib.parse
from pathlib import Path
from typing import Any

from tests.e2e.connect.conftest import REPO, S3Server, Worker, wait_until
from tests.e2e.connect.test_s3_sink import create_topic, produce, sink_config

FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
STRING = "org.apache.kafka.connect.storage.StringConverter"


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


def bystander(worker: Worker) -> None:
    """The worker process is alive and answers an ordinary request."""
    assert worker.proc is not None and worker.proc.poll() is None, worker.output()
    status, body = worker.request("GET", "/")
    assert status == 200 and "version" in body


def listening_addresses(pid: int, port: int) -> set[str]:
    """Local addresses of the process's LISTEN sockets on ``port`` (from /proc/PID/net/tcp*)."""
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hexport, 16) == port:
                found.add(address)
    return found


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_rest_listens_on_loopback_only_by_default(bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    addresses = listening_addresses(worker.pid, worker.port)
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1, nothing else


def test_class_names_never_import_modules(bootstrap: str, worker_factory: Any,
                                          tmp_path: Path) -> None:
    """A module the worker could import (on its sys.path, as if a sink had written it) is
    named as connector, converter and transformation class: nothing imports it."""
    marker = tmp_path / "pwned"
    module = f"brook_hostile_{os.getpid()}_{time.monotonic_ns()}"
    source = REPO / f"{module}.py"
    source.write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from brook.connect.connectors.file.sink import FileStreamSinkConnector as Evil\n")
    try:
        worker = worker_factory(bootstrap)
        for name in (f"{module}.Evil", f"{module}:Evil"):
            status, body = worker.request(
                "PUT", f"/connector-plugins/{urllib.parse.quote(name)}/config/validate",
                {"connector.class": name, "topics": "t"})
            assert status == 400 and body["error_code"] == 400, body
            assert "Failed to find any class that implements Connector" in body["message"]
            status, body = worker.request("POST", "/connectors", {"name": "evil", "config": {
                "connector.class": name, "topics": "t"}})
            assert status == 400 and "Failed to find any class" in body["message"], body
        base = sink_config("t", S3Server("http://127.0.0.1:9", None), "bkt")
        for key, extra in (
                ("value.converter", {"value.converter": f"{module}.Evil"}),
                ("header.converter", {"header.converter": f"{module}.Evil"}),
                ("transforms.t.type", {"transforms": "t", "transforms.t.type": f"{module}.Evil"}),
                ("predicates.p.type", {"predicates": "p", "predicates.p.type": f"{module}.Evil"})):
            status, body = worker.request("POST", "/connectors",
                                          {"name": "evil", "config": {**base, **extra}})
            assert status == 400, body
            assert key in body["message"] and "could not be found" in body["message"], body
        assert worker.request("GET", "/connectors") == (200, [])
        assert not marker.exists(), "a module named by a request was imported"
        bystander(worker)
    finally:
        source.unlink()


def test_file_connectors_are_off_by_default_and_confined_when_on(
        bootstrap: str, worker_factory: Any, tmp_path: Path) -> None:
    area = tmp_path / "area"  # worker logs go to tmp_path itself
    allowed, outside = area / "allowed", area / "outside"
    allowed.mkdir(parents=True)
    outside.mkdir()
    (allowed / "link").symlink_to(outside)
    before = files_under(area)

    default = worker_factory(bootstrap)
    status, body = default.request("POST", "/connectors", {"name": "fs", "config": {
        "connector.class": FILE_SINK, "topics": "t", "file": str(outside / "authorized_keys")}})
    assert status == 400 and "file.connectors.enable" in body["message"], body

    worker = worker_factory(bootstrap, **{"file.connectors.enable": "true",
                                          "file.connectors.allowed.dirs": str(allowed)})
    attempts = [str(outside / "authorized_keys"),           # plainly outside
                str(allowed / ".." / "outside" / "x.py"),   # '..' out of the allowed dir
                str(allowed / "link" / "authorized_keys"),  # a symlink pointing out
                "relative.txt", "/etc/passwd"]
    for path in attempts:
        for cls in (FILE_SINK, "FileStreamSource"):
            status, body = worker.request("POST", "/connectors", {"name": "fs", "config": {
                "connector.class": cls, "topics": "t", "topic": "t", "file": path}})
            assert status == 400 and "file" in body["message"], (path, body)
    assert worker.request("GET", "/connectors") == (200, [])
    # Inside the allowed directory it works, and the sink writes only there.
    topic = f"fs-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [(0, b"hello")])
    status, body = worker.request("POST", "/connectors", {"name": "fs", "config": {
        "connector.class": "FileStreamSink", "topics": topic, "file": str(allowed / "out.txt"),
        "value.converter": STRING}})
    assert status == 201, body
    wait_until(lambda: (allowed / "out.txt").exists() and
               (allowed / "out.txt").read_text() == "hello\n", 60, "the allowed sink file")
    assert files_under(area) - before == {allowed / "out.txt"}
    assert list(outside.iterdir()) == []
    bystander(worker)


def test_s3_sink_stays_inside_its_store(bootstrap: str, s3: S3Server, worker_factory: Any,
                                        tmp_path: Path) -> None:
    area = tmp_path / "area"  # worker logs go to tmp_path itself
    store = area / "store"
    store.mkdir(parents=True)
    before = files_under(area)
    worker = worker_factory(bootstrap, **{"s3.file.store.root": str(store)})
    topic = f"escape-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 1)
    local = {"store.url": store.as_uri()}
    refused = {
        "s3.bucket.name": [{"s3.bucket.name": "../../x", **local},
                           {"s3.bucket.name": str(area / "abs"), **local},
                           {"s3.bucket.name": "192.168.1.1", **local},
                           {"s3.bucket.name": "Upper_Case", **local}],
        "store.url": [{"store.url": (area / "elsewhere").as_uri()},
                      {"store.url": "file:///"},
                      {"store.url": store.as_uri() + "/../../x"}],
        "topics.dir": [{"topics.dir": "../../x", **local}, {"topics.dir": "/abs", **local},
                       {"topics.dir": "a/../../b", **local}, {"topics.dir": "a\x00b", **local}],
    }
    for key, variants in refused.items():
        for extra in variants:
            config = sink_config(topic, s3, "bkt", **extra)
            status, body = worker.request("POST", "/connectors", {"name": "esc", "config": config})
            assert status == 400 and key in body["message"], (extra, body)
    assert worker.request("GET", "/connectors") == (200, [])

    # A record's field value feeds the FieldPartitioner: one that climbs out fails the task
    # with the reason, and nothing is written outside the store.
    produce(bootstrap, topic, [(0, json.dumps({"f": "../../../../escaped"}).encode())] * 3)
    config = sink_config(topic, s3, "bkt", **local, **{
        "partitioner.class": "io.confluent.connect.storage.partitioner.FieldPartitioner",
        "partition.field.name": "f"})
    assert worker.request("POST", "/connectors", {"name": "field", "config": config})[0] == 201

    def failed() -> Any:
        tasks = worker.request("GET", "/connectors/field/status")[1]["tasks"]
        return tasks and tasks[0]["state"] == "FAILED" and tasks[0]

    task = wait_until(failed, 60, f"the escaping task to fail\n{worker.output()}")
    assert "'..' segments" in task["trace"], task["trace"]
    assert {p for p in files_under(area) - before if not p.is_relative_to(store)} == set()
    assert not any(p.is_file() for p in files_under(store))
    bystander(worker)


def test_a_refusing_store_fails_the_task_with_the_reason(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    topic = f"refused-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, [(0, b'{"n":1}')] * 3)
    worker = worker_factory(bootstrap)
    config = sink_config(topic, s3, "no-such-bucket", **{"s3.part.retries": "2",
                                                         "s3.retry.backoff.ms": "50"})
    started = time.monotonic()
    assert worker.request("POST", "/connectors", {"name": "refused", "config": config})[0] == 201

    def failed() -> Any:
        tasks = worker.request("GET", "/connectors/refused/status")[1]["tasks"]
        return tasks and tasks[0]["state"] == "FAILED" and tasks[0]

    task = wait_until(failed, 60, f"the task to fail\n{worker.output()}")
    assert "after 3 attempt(s)" in task["trace"] and "no-such-bucket" in task["trace"], task
    assert time.monotonic() - started < 60
    bystander(worker)


def _raw_request(port: int, head: bytes, body_chunks: Any, budget_s: float = 60.0) -> bytes:
    """Send ``head`` then body chunks until the server answers or closes; return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=budget_s) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + budget_s
        for chunk in body_chunks:
            if select.select([sock], [], [], 0)[0] or time.monotonic() > deadline:
                break  # the server has answered (or closed): stop sending
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
        sock.settimeout(10)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
        return answer


MIB = 1024 * 1024
BIG = 300 * MIB
RSS_GROWTH_BOUND_KIB = 64 * 1024  # the body is 300 MiB; the worker may grow by 64 MiB at most


def test_oversized_bodies_are_refused_unread(bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    bystander(worker)
    baseline = rss_kib(worker.pid)
    chunk = b"x" * MIB
    path = b"POST /connectors HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    declared = path + f"Content-Length: {BIG}\r\n\r\n".encode()
    answer = _raw_request(worker.port, declared, (chunk for _ in range(BIG // MIB)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    peak = rss_kib(worker.pid)

    chunked = path + b"Transfer-Encoding: chunked\r\n\r\n"
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = _raw_request(worker.port, chunked, (framed for _ in range(BIG // MIB)))
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    peak = max(peak, rss_kib(worker.pid))
    print(f"worker RSS: {baseline} KiB before, {peak} KiB at most after two 300 MiB bodies")
    assert peak - baseline < RSS_GROWTH_BOUND_KIB, (baseline, peak)
    assert worker.request("GET", "/connectors") == (200, [])
    bystander(worker)


def test_names_are_checked_once_and_paths_decoded_once(bootstrap: str, s3: S3Server,
                                                       worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    config = sink_config("t", s3, "bkt")
    for bad in ("..", ".", "a/b", "", "   ", "bell\x07", "nul\x00", "del\x7f"):
        status, body = worker.request("POST", "/connectors", {"name": bad, "config": config})
        assert status == 400 and body["error_code"] == 400, (bad, body)
        quoted = urllib.parse.quote(bad, safe="")
        if quoted:
            status, body = worker.request("PUT", f"/connectors/{quoted}/config", config)
            assert status in (400, 404, 405), (bad, status, body)
    assert worker.request("GET", "/connectors") == (200, [])
    status, _ = worker.request("DELETE", "/connectors/%2e%2e")
    assert status == 404

    # A non-ASCII name is a valid name: created once, with a percent-encoded Location.
    name = "名前"
    status, body = worker.request("POST", "/connectors", {"name": name, "config": config})
    assert status == 201 and body["name"] == name, body
    quoted = urllib.parse.quote(name, safe="")
    status, body = worker.request("GET", f"/connectors/{quoted}")
    assert status == 200 and body["name"] == name
    status, body = worker.request("POST", "/connectors", {"name": name, "config": config})
    assert status == 409, body
    assert worker.request("GET", "/connectors") == (200, [name])
    assert worker.request("DELETE", f"/connectors/{quoted}")[0] == 204
    assert worker.request("GET", "/connectors") == (200, [])
    # A body that is not JSON, or nests too deep, is a 400 too.
    for raw in (b"[" * 500_000, b"\xff\xfe", b'{"name": 5, "config": []}'):
        answer = _raw_request(worker.port, b"POST /connectors HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Type: application/json\r\nContent-Length: "
                              + str(len(raw)).encode() + b"\r\n\r\n", iter([raw]))
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    bystander(worker)
