"""Records in the worker's own topics come from any Kafka client that may write them.

The config, offset and status topics are ordinary topics: a client with write access can
append anything. A worker must skip what it cannot read (as Kafka's backing stores log and
skip), never fail to start because of it, and never allocate what a record merely claims.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from brook.connect.api import ConfigDef, ConfigException, SinkConnector, SinkTask, Task
from brook.connect.runtime import plugins
from brook.connect.runtime.connector_config import MAX_TASKS, client_overrides
from brook.connect.runtime.forwarding import forward_post, peer_url
from brook.connect.runtime.herder import Herder, RestError
from brook.connect.runtime.kafka_log import MemoryLog
from brook.connect.runtime.rest_security import BasicAuth, load_credentials
from brook.connect.runtime.sink_offsets import MemorySinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.validation import MAX_NAME_BYTES, check, check_connector_name
from brook.connect.runtime.worker_config import WorkerConfig

GARBAGE: list[tuple[bytes, bytes | None]] = [
    (b"connector-a", b"not json"),
    (b"connector-b", b"[1, 2]"),
    (b"connector-c", b'{"properties": 5}'),
    (b"connector-d", b'{"no": "properties"}'),
    (b"target-state-a", b'"STARTED"'),
    (b"task-a-0", b'{"properties": []}'),
    (b"commit-a", b'{"tasks": "many"}'),
    (b"commit-a", b'{"tasks": -3}'),
    (b"restart-connector-a", b"[]"),
    (b"\xff\xfe", b"{}"),
    (b"connector-e", b"\xff"),
    (b"status-connector-x", b"[]"),
    (b"status-task-x-0", b'"RUNNING"'),
    (b'["n", {"p": 1}]', b"{oops"),
    (b'["n", {"p": 1}]', b"[1]"),
]
GOOD = (b"connector-ok", b'{"properties": {"name": "ok", "connector.class": "S3Sink"}}')


def _log(*entries: tuple[bytes, bytes | None]) -> MemoryLog:
    log = MemoryLog()
    log.entries.extend(entries)
    return log


def test_stores_skip_records_they_cannot_read() -> None:
    configs = ConfigStore(_log(*GARBAGE, GOOD))
    assert configs.connectors == {"ok": {"name": "ok", "connector.class": "S3Sink"}}
    assert configs.task_configs == {} and configs.restarts == []
    status = StatusStore(_log(*GARBAGE, (b"status-task-x-0", b'{"state": "RUNNING"}')), "w:1")
    assert status.tasks == {("x", 0): {"state": "RUNNING"}} and status.connectors == {}
    offsets = OffsetStore(_log(*GARBAGE, (b'["n", {"p": 1}]', b'{"position": 7}')))
    assert offsets.get("n", {"p": 1}) == {"position": 7}


def test_tailed_garbage_is_skipped() -> None:
    configs = ConfigStore(MemoryLog())
    status = StatusStore(MemoryLog(), "w:1")
    for key, value in GARBAGE:
        configs._tailed(key, value)
        status._tailed(key, value)
    configs._tailed(*GOOD)
    assert list(configs.connectors) == ["ok"]


def test_commit_claims_only_the_task_configs_that_were_written() -> None:
    """A forged ``commit-<name>`` claiming a million tasks must not make a million configs."""
    configs = ConfigStore(_log(GOOD, (b"commit-ok", b'{"tasks": 1000000000}')))
    assert configs.task_configs.get("ok", []) == []
    configs = ConfigStore(_log(GOOD, (b"task-ok-0", b'{"properties": {"a": "1"}}'),
                               (b"task-ok-1", b'{"properties": {"a": "2"}}'),
                               (b"commit-ok", b'{"tasks": 2}')))
    assert configs.task_configs["ok"] == [{"a": "1"}, {"a": "2"}]
    configs = ConfigStore(_log(GOOD, (b"task-ok-0", b'{"properties": {"a": "1"}}'),
                               (b"commit-ok", b'{"tasks": 2}')))
    assert "ok" not in configs.task_configs  # inconsistent: as Kafka, not applied
    configs = ConfigStore(_log(GOOD, (b"commit-ok", b'{"tasks": 0}')))
    assert configs.task_configs["ok"] == []


@pytest.mark.parametrize("worker_id", [
    "evil.example@127.0.0.1:8083", "127.0.0.1:8083/x?", "127.0.0.1:8083#", "127.0.0.1",
    "127.0.0.1:0", "127.0.0.1:99999", "host:80 x", "", ":8083", "a" * 300 + ":1", "[::1]:8083\n",
])
def test_forwarding_only_to_plain_host_port_worker_ids(worker_id: str) -> None:
    """Worker ids come from the group's member list: any Kafka client can join the group."""
    with pytest.raises(RestError) as err:
        peer_url("http", worker_id, "/connectors/c/tasks/0/restart")
    assert err.value.status == 409


def test_forwarding_to_worker_ids_the_workers_use() -> None:
    for worker_id in ("127.0.0.1:8083", "connect-1.internal:8083", "[::1]:8443"):
        assert peer_url("https", worker_id, "/x") == f"https://{worker_id}/x"


def test_credentials_with_an_empty_password_are_refused(tmp_path: Path) -> None:
    """``admin`` alone on a line is the user admin with the empty password: anyone's login."""
    creds = tmp_path / "creds.properties"
    creds.write_text("bob: pw\nadmin\n")
    with pytest.raises(ValueError, match="admin"):
        load_credentials(WorkerConfig({"rest.basic.auth.credentials.file": str(creds)}))


def test_basic_auth_passwords_with_colons_and_unicode() -> None:
    gate = BasicAuth(lambda *a: None, {"admin": "a:b:ç"})  # type: ignore[arg-type,return-value]

    def header(user_pass: str) -> bytes:
        return b"Basic " + base64.b64encode(user_pass.encode())

    assert gate.allowed(header("admin:a:b:ç"))
    for wrong in ("admin:a:b", "admin:a:b:ç ", "admin", "admin:", ":a:b:ç", "Admin:a:b:ç"):
        assert not gate.allowed(header(wrong)), wrong
    assert not gate.allowed(b"Basic !!!!") and not gate.allowed(b"Bearer x")


def test_tasks_max_is_bounded() -> None:
    """``tasks.max=1000000`` would be a million task configs, threads and consumers."""
    props = {"name": "s", "connector.class": "S3SinkConnector", "topics": "t",
             "s3.bucket.name": "bkt", "format.class": "JsonFormat", "flush.size": "3"}
    check({**props, "tasks.max": str(MAX_TASKS)})
    with pytest.raises(RestError) as err:
        check({**props, "tasks.max": "1000000"})
    assert err.value.status == 400 and "tasks.max" in err.value.message


class GreedyConnector(SinkConnector):
    """Returns more task configs than ``tasks.max`` allows (a buggy third-party plugin)."""

    def config(self) -> ConfigDef:
        return ConfigDef()

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{} for _ in range(max_tasks + 5)]

    def stop(self) -> None:
        pass


def test_a_connector_that_makes_more_tasks_than_tasks_max_fails() -> None:
    plugins.register("test.GreedyConnector", GreedyConnector)
    herder = Herder(WorkerConfig({}), ConfigStore(MemoryLog()), OffsetStore(MemoryLog()),
                    StatusStore(MemoryLog(), "w:1"), MemorySinkOffsets())
    herder.create("greedy", {"connector.class": "test.GreedyConnector", "topics": "t",
                             "tasks.max": "2"})
    status = herder.connector_status("greedy")
    assert status["connector"]["state"] == "FAILED" and status["tasks"] == []
    assert "tasks.max" in status["connector"]["trace"]


@pytest.mark.parametrize("key", [
    "consumer.override.plugin.library.paths", "producer.override.plugin.library.paths",
    "admin.override.plugin.library.paths", "consumer.override.ssl.engine.location",
    "consumer.override.sasl.kerberos.kinit.cmd", "producer.override.ssl.ca.location",
    "consumer.override.sasl.oauthbearer.token.endpoint.url", "consumer.override.PLUGIN.library.paths ",
    "consumer.override.error_cb",
])
def test_client_overrides_that_load_code_run_commands_or_read_files_are_refused(key: str) -> None:
    """librdkafka's ``plugin.library.paths`` dlopen()s a file: a connector config naming one
    (an object the S3 sink itself wrote, say) would run code inside the worker."""
    props = {"name": "s", "connector.class": "S3SinkConnector", "topics": "t",
             "s3.bucket.name": "bkt", "format.class": "JsonFormat", "flush.size": "3",
             key: "/tmp/x.so"}
    with pytest.raises(RestError) as err:
        check(props)
    assert key in err.value.message
    with pytest.raises(ConfigException):
        client_overrides(props, key[:key.index(".override.") + len(".override.")])


def test_harmless_client_overrides_pass() -> None:
    props = {"name": "s", "connector.class": "S3SinkConnector", "topics": "t",
             "s3.bucket.name": "bkt", "format.class": "JsonFormat", "flush.size": "3",
             "consumer.override.max.poll.interval.ms": "60000",
             "consumer.override.sasl.username": "u", "producer.override.linger.ms": "5"}
    check(props)
    assert client_overrides(props, "consumer.override.") == {
        "max.poll.interval.ms": "60000", "sasl.username": "u"}


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []
    redirect_to: ClassVar[str] = ""

    def _any(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/connectors/"):
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
        else:
            self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _any

    def log_message(self, *args: Any) -> None:
        pass


def test_a_forwarded_request_never_follows_a_redirect() -> None:
    """A peer (any group member) answering 302 must not get the caller's credentials, or the
    worker itself, sent on to another address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    port = server.server_address[1]
    _Recorder.redirect_to = f"http://127.0.0.1:{port}/stolen"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(RestError) as err:
            forward_post(peer_url("http", f"127.0.0.1:{port}", "/connectors/c/tasks/0/restart"),
                         "Basic YWRtaW46czNjcmV0", None, timeout_s=10)
        assert err.value.status == 409 and "redirect" in err.value.message
    finally:
        server.shutdown()
        server.server_close()
    assert [path for path, _ in _Recorder.seen] == ["/connectors/c/tasks/0/restart"]


@pytest.mark.parametrize("path_format", ["'..'/YYYY", "YYYY/'..'", "'/'YYYY", "YYYY//MM",
                                         "'.'/YYYY", "YYYY/'a\u0001'"])
def test_path_formats_that_spell_dot_segments_are_refused(path_format: str) -> None:
    props = {"name": "s", "connector.class": "S3SinkConnector", "topics": "t",
             "s3.bucket.name": "bkt", "format.class": "JsonFormat", "flush.size": "3",
             "partitioner.class": "TimeBasedPartitioner", "timezone": "UTC",
             "partition.duration.ms": "3600000", "path.format": path_format}
    with pytest.raises(RestError) as err:
        check(props)
    assert "path.format" in err.value.message
    check({**props, "path.format": "'year'=YYYY/'month'=MM/'..x'"})


def test_connector_names_stay_addressable() -> None:
    """A 300 KB name could be created but never again be named in a request line."""
    assert check_connector_name("n" * MAX_NAME_BYTES)
    for name in ("n" * (MAX_NAME_BYTES + 1), "\U0001f600" * (MAX_NAME_BYTES // 4 + 1)):
        with pytest.raises(RestError) as err:
            check_connector_name(name)
        assert err.value.status == 400


class QuietConnector(GreedyConnector):
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return []


def test_a_stored_connector_with_a_name_rest_would_refuse_does_not_run() -> None:
    plugins.register("test.QuietConnector", QuietConnector)
    props = {"connector.class": "test.QuietConnector", "topics": "t"}
    log = _log(*[(f"connector-{name}".encode(), json.dumps({"properties": {
        **props, "name": name}}).encode()) for name in ("a/b", "..", "ok")])
    herder = Herder(WorkerConfig({}), ConfigStore(log), OffsetStore(MemoryLog()),
                    StatusStore(MemoryLog(), "w:1"), MemorySinkOffsets())
    herder.start()
    try:
        assert herder.connector_status("ok")["connector"]["state"] == "RUNNING"
        for name in ("a/b", ".."):
            assert herder.connector_status(name)["connector"]["state"] == "FAILED"
    finally:
        herder.stop()
