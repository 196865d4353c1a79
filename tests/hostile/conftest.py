"""Real broker processes for hostile-input tests: per-test settings and descriptor limits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HostileBroker:
    """One ``brook broker`` process on a loopback port, optionally under ``prlimit``."""

    def __init__(self, data_dir: Path, overrides: dict[str, str], nofile: int | None) -> None:
        self.data_dir = data_dir
        self.overrides = overrides
        self.nofile = nofile
        self.port = _free_port()
        self.log_path = data_dir.parent / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "brook", "broker", "--node-id", "1",
               "--listeners", listener, "--advertised-listeners", listener,
               "--data-dir", str(self.data_dir), "--log-level", "INFO"]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        if self.nofile is not None:  # prlimit execs the broker: the pid stays the broker's
            cmd = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", *cmd]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + timeout
        while "brook broker 1 ready" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"broker did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.proc = None
        return code


MakeBroker = Callable[..., HostileBroker]


@pytest.fixture(name="make_broker")
def fixture_make_broker(tmp_path: Path) -> Iterator[MakeBroker]:
    started: list[HostileBroker] = []

    def make(nofile: int | None = None, **overrides: str) -> HostileBroker:
        d = tmp_path / f"broker{len(started)}" / "data"
        d.mkdir(parents=True)
        b = HostileBroker(d, dict(overrides), nofile)
        b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        alive = b.alive()
        code = b.stop()
        assert alive, f"broker died during the test:\n{b.output()[-3000:]}"
        assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"
