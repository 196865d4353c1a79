"""A real broker child process for fault tests: kill -9, restart, and move its clock.

``BrokerProcess`` runs ``python -m brook.testing.warp_broker`` (``brook broker`` with a
:class:`~brook.testing.clock.WarpClock`) on a loopback port and a data directory that survive
restarts, and keeps the control file beside the data directory, so ``warp`` moves the time of
the running broker and of every later incarnation.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from brook.testing.clock import read_warp, write_warp

__all__ = ["BrokerProcess", "free_port"]

_READY = "brook broker 1 ready"
WARP_SETTLE_S = 0.1
"""Real time for the broker to see a new offset (it re-reads the file every 20 ms)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BrokerProcess:
    """A restartable warp broker. ``start`` waits for the broker's own ready line."""

    data_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started_once: bool = False
    _ready_seen: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def clock_file(self) -> Path:
        return self.data_dir.parent / "warp-offset-ms"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "broker.log"

    def warped_ms(self) -> int:
        return read_warp(self.clock_file)

    def warp(self, advance_ms: int) -> None:
        """Move the broker's clock ``advance_ms`` ahead (it never goes back)."""
        if advance_ms < 0:
            raise ValueError("time does not run backwards")
        write_warp(self.clock_file, self.warped_ms() + advance_ms)
        time.sleep(WARP_SETTLE_S)

    def now_ms(self) -> int:
        """The broker's idea of the wall clock."""
        return time.time_ns() // 1_000_000 + self.warped_ms()

    def start(self, timeout: float = 60.0) -> None:
        """Start; a first start whose port was taken meanwhile retries on a fresh port."""
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
                self.started_once = True
                return
            except RuntimeError:
                taken = "address already in use" in self.output().lower()
                if self.started_once or not taken or attempt == 2:
                    raise
                self.port = free_port()

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        cmd = [
            sys.executable, "-m", "brook.testing.warp_broker",
            "--clock-file", str(self.clock_file), "--node-id", "1",
            "--listeners", listener, "--advertised-listeners", listener,
            "--data-dir", str(self.data_dir), "--log-level", "WARNING",
        ]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        self._ready_seen = self.output().count(_READY)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )

    def _wait_ready(self, timeout: float) -> None:
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(_READY) > self._ready_seen:
                return
            if proc.poll() is not None:
                raise RuntimeError(
                    f"broker exited with {proc.returncode}:\n{self.output()[-3000:]}"
                )
            time.sleep(0.05)
        raise TimeoutError(f"broker not ready after {timeout}s:\n{self.output()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def restart(self) -> None:
        code = self.stop()
        if code != 0:
            raise RuntimeError(f"broker exited with {code}:\n{self.output()[-3000:]}")
        self.start()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
