"""Shared fixtures: real broker processes on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import protocol_codec  # noqa: F401  (adds the client directions of the codec: tests act as clients)
import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


_READY = "brook broker 1 ready"


@dataclass
class BrokerProcess:
    """A ``brook broker`` child process; restartable on the same port and data directory."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    overrides: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_once: bool = False
    _ready_seen: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker; on a first start whose port was taken meanwhile (another process
        bound it between ``free_port`` and the broker's bind), retry on a fresh port."""
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready()
                self.started_once = True
                return
            except RuntimeError:
                taken = "address already in use" in self.output().lower()
                if self.started_once or not taken or attempt == 2:
                    raise
                self.port = free_port()

    def _spawn(self) -> None:
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        cmd = [
            sys.executable, "-m", "brook", "broker", "--node-id", "1",
            "--listeners", listener, "--advertised-listeners", listener,
            "--data-dir", str(self.data_dir), "--log-level", "WARNING",
        ]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        self.log_path = self.data_dir.parent / f"broker-{self.port}.log"
        self._ready_seen = self.output().count(_READY)
        log = open(self.log_path, "ab")  # the child owns it
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        log.close()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        """Ready is the broker's own line, not merely an open port: a port can be answered by
        some other process that took it."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(_READY) > self._ready_seen:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}:\n{self.output()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"broker not ready after {timeout}s:\n{self.output()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(5)
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


@pytest.fixture(name="broker_factory")
def fixture_broker_factory(tmp_path: Path) -> Iterator[type[BrokerProcess] | object]:
    started: list[BrokerProcess] = []

    def make(**overrides: str) -> BrokerProcess:
        d = tmp_path / f"broker{len(started)}" / "data"
        d.mkdir(parents=True)
        b = BrokerProcess(d, overrides=dict(overrides))
        b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture(name="broker", scope="module")
def fixture_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker shared by a test module (tests use their own topic names)."""
    d = tmp_path_factory.mktemp("broker") / "data"
    d.mkdir()
    b = BrokerProcess(d)
    b.start()
    yield b
    code = b.stop()
    assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"


@pytest.fixture(name="bootstrap", scope="module")
def fixture_bootstrap(broker: BrokerProcess) -> str:
    return broker.bootstrap
