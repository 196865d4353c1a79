"""Fixtures for connect end-to-end tests: a real S3 API server (moto) and worker processes.

The broker comes from ``tests/conftest.py``. The worker runs as ``python -m brook connect`` so
that SIGKILL is a real crash; moto runs in server mode on a loopback port so the S3 sink talks
HTTP to it exactly as it would to S3.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.brokers import REPO, free_port


@dataclass
class S3Server:
    url: str
    client: Any

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                          Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(name="s3", scope="module")
def fixture_s3() -> Iterator[S3Server]:
    import boto3
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    yield S3Server(url, client)
    server.stop()


@dataclass
class Worker:
    """A ``brook connect`` process with its REST port; restartable with the same settings."""

    bootstrap: str
    log_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"
    auth: tuple[str, str] | None = None
    ca_file: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        cmd = [sys.executable, "-m", "brook", "connect", "--bootstrap-server", self.bootstrap,
               "--rest-port", str(self.port), "--log-level", "INFO"]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        log = open(self.log_dir / f"worker-{self.port}.log", "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.output()}")
            try:
                self.request("GET", "/")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise TimeoutError(f"worker REST never came up:\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def output(self) -> str:
        path = self.log_dir / f"worker-{self.port}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def request(self, method: str, path: str, body: Any = None,
                auth: tuple[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        user_password = auth or self.auth
        if user_password is not None:
            token = base64.b64encode(":".join(user_password).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=self.ca_file) if self.scheme == "https" else None
        try:
            with urllib.request.urlopen(req, timeout=60, context=context) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None


@pytest.fixture(name="worker_factory")
def fixture_worker_factory(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(bootstrap: str, *, scheme: str = "http", auth: tuple[str, str] | None = None,
             ca_file: str | None = None, **overrides: str) -> Worker:
        settings = {"offset.flush.interval.ms": "300", "offset.storage.partitions": "2",
                    "status.storage.partitions": "1", "session.timeout.ms": "6000",
                    "heartbeat.interval.ms": "1000",
                    "config.storage.topic": f"cfg-{len(started)}-{os.getpid()}-{time.monotonic_ns()}",
                    **overrides}
        settings.setdefault("group.id", settings["config.storage.topic"] + "-group")
        settings.setdefault("offset.storage.topic", settings["config.storage.topic"] + "-offsets")
        settings.setdefault("status.storage.topic", settings["config.storage.topic"] + "-status")
        w = Worker(bootstrap, tmp_path, settings, scheme=scheme, auth=auth, ca_file=ca_file)
        started.append(w)  # stopped at the end even if it never came up
        w.start()
        return w

    yield make
    for w in started:
        w.stop()


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
