"""The config and status topics are writable by any Kafka client: records forged into them
must neither stop a worker from starting nor get past the checks a REST request meets.

Each test writes the records with a plain producer, then starts (or keeps) a real worker
process and looks at what it does with them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.e2e.connect.conftest import wait_until
from tests.e2e.connect.test_s3_sink import create_topic

FILE_SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"


def forge(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        p.produce(topic, key=key, value=value)
    assert p.flush(30) == 0


def _props(**props: str) -> bytes:
    return json.dumps({"properties": props}).encode()


def test_a_worker_starts_over_forged_config_records_and_checks_stored_configs(
        bootstrap: str, worker_factory: Any, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    config_topic = f"forged-{time.monotonic_ns()}"
    create_topic(bootstrap, config_topic, 1)
    forge(bootstrap, config_topic, [
        (b"connector-junk", b"not json"),
        (b"connector-junk2", b"[]"),
        (b"\xff\xfe", b"{}"),
        (b"commit-junk", b'{"tasks": 1000000000}'),
        # Stored configs that REST would refuse: every worker that runs them checks them again.
        (b"connector-escape", _props(**{"connector.class": FILE_SINK, "name": "escape",
                                        "topics": "t", "file": str(outside / "pwned.txt")})),
        (b"target-state-escape", b'{"state": "STARTED"}'),
        (b"task-escape-0", _props(**{"connector.class": FILE_SINK, "topics": "t",
                                     "file": str(outside / "pwned-by-task.txt"),
                                     "task.class": "x"})),
        (b"commit-escape", b'{"tasks": 1}'),
        (b"connector-code", _props(**{"connector.class": "os.system", "name": "code",
                                      "topics": "t"})),
        (b"target-state-code", b'{"state": "STARTED"}'),
        (b"connector-ok", _props(**{"connector.class": FILE_SINK, "name": "ok", "topics": "t",
                                    "file": str(allowed / "ok.txt")})),
        (b"target-state-ok", b'{"state": "STARTED"}'),
    ])
    worker = worker_factory(bootstrap, **{"config.storage.topic": config_topic,
                                          "file.connectors.enable": "true",
                                          "file.connectors.allowed.dirs": str(allowed)})
    assert sorted(worker.request("GET", "/connectors")[1]) == ["code", "escape", "ok"]

    def state(name: str) -> Any:
        body = worker.request("GET", f"/connectors/{name}/status")[1]
        return body["connector"]["state"] if body["connector"]["state"] != "UNASSIGNED" else None

    assert wait_until(lambda: state("escape"), 60, worker.output()) == "FAILED"
    assert wait_until(lambda: state("code"), 60, worker.output()) == "FAILED"
    assert wait_until(lambda: state("ok"), 60, worker.output()) == "RUNNING"
    assert list(outside.iterdir()) == []

    # Records forged while the worker runs are skipped as well; the worker goes on tailing.
    forge(bootstrap, config_topic, [(b"connector-junk3", b"{"), (b"commit-ok", b'"x"'),
                                    (b"connector-late", _props(**{
                                        "connector.class": FILE_SINK, "name": "late",
                                        "topics": "t", "file": str(allowed / "late.txt")}))])
    wait_until(lambda: "late" in worker.request("GET", "/connectors")[1], 30, worker.output())
    assert worker.proc is not None and worker.proc.poll() is None
    assert list(outside.iterdir()) == []


def test_forged_status_records_do_not_stop_a_worker(bootstrap: str, worker_factory: Any) -> None:
    status_topic = f"forged-status-{time.monotonic_ns()}"
    create_topic(bootstrap, status_topic, 1)
    forge(bootstrap, status_topic, [(b"status-connector-x", b"[]"), (b"status-task-x-0", b"7"),
                                    (b"status-task-x-\xc2\xb2", b"{}"), (b"\xff", b"\xff")])
    worker = worker_factory(bootstrap, **{"status.storage.topic": status_topic})
    assert worker.request("GET", "/connectors") == (200, [])
    forge(bootstrap, status_topic, [(b"status-connector-y", b"{oops")])
    time.sleep(1)
    assert worker.request("GET", "/")[0] == 200


LIBRARY = """#include <stdio.h>
__attribute__((constructor)) static void ran(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("code ran in the worker", f); fclose(f); }
}
"""


def test_client_overrides_cannot_load_a_library(bootstrap: str, worker_factory: Any,
                                                tmp_path: Path) -> None:
    """``consumer.override.plugin.library.paths`` would have librdkafka dlopen() any file,
    running its constructor inside the worker: refused over REST and from the config topic."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the library")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    marker = tmp_path / "ran"
    source = tmp_path / "lib.c"
    source.write_text(LIBRARY.replace("MARKER", json.dumps(str(marker))))
    library = tmp_path / "lib.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    config_topic = f"forged-lib-{time.monotonic_ns()}"
    create_topic(bootstrap, config_topic, 1)
    hostile = {"connector.class": FILE_SINK, "topics": "t", "file": str(allowed / "out.txt"),
               "consumer.override.plugin.library.paths": str(library)}
    forge(bootstrap, config_topic, [
        (b"connector-stored", _props(name="stored", **hostile)),
        (b"target-state-stored", b'{"state": "STARTED"}'),
        (b"task-stored-0", _props(**hostile)),
        (b"commit-stored", b'{"tasks": 1}'),
    ])
    worker = worker_factory(bootstrap, **{"config.storage.topic": config_topic,
                                          "file.connectors.enable": "true",
                                          "file.connectors.allowed.dirs": str(allowed)})
    status, body = worker.request("POST", "/connectors", {"name": "posted", "config": hostile})
    assert status == 400 and "plugin.library.paths" in body["message"], body

    def stored_state() -> Any:
        body = worker.request("GET", "/connectors/stored/status")[1]
        states = [body["connector"]["state"], *(t["state"] for t in body["tasks"])]
        return "UNASSIGNED" not in states and states

    assert set(wait_until(stored_state, 60, worker.output())) == {"FAILED"}
    time.sleep(1)
    assert not marker.exists(), "a connector config made the worker load a library"
