"""A real broker child process for tests: kill -9, restart, and (optionally) move its clock.

``BrokerProcess`` runs a broker on a loopback port and a data directory that survive restarts.
With ``warp_clock=True`` (the default, what the kill loop uses) the child is
``python -m brook.testing.warp_broker`` (``brook broker`` with a
:class:`~brook.testing.clock.WarpClock`) and the control file sits beside the data directory,
so ``warp`` moves the time of the running broker and of every later incarnation; with
``warp_clock=False`` it is the product's own ``python -m brook broker``.

Ready means the broker's own ready line, not an open port: a port can be answered by another
process that took it. A first start whose port was taken between ``free_port`` and the
broker's bind retries on a fresh port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from brook.testing.clock import read_warp, write_warp

__all__ = ["BrokerProcess", "free_port"]

WARP_SETTLE_S = 0.1
"""Real time for the broker to see a new offset (it re-reads the file every 20 ms)."""


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS's choice of an ephemeral port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BrokerProcess:
    """A restartable broker child. ``start`` waits for the broker's own ready line.

    ``advertised_port`` advertises a port other than the bound one (a proxy in front);
    ``program`` replaces the command before the broker options (a wrapper script);
    ``prefix`` runs the command under another one that execs it (``prlimit``);
    ``listeners``/``advertised_listeners`` replace the single PLAINTEXT listener on ``port``
    (a cluster fault test adds an inter-broker listener advertised at a proxy; ``{port}`` in
    either stands for ``port``, which a first start may move).
    """

    data_dir: Path
    overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    advertised_port: int | None = None
    warp_clock: bool = True
    log_level: str = "WARNING"
    program: Sequence[str] = ()
    prefix: Sequence[str] = ()
    cwd: Path | None = None
    node_id: int = 1
    listeners: str | None = None
    advertised_listeners: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_once: bool = False
    _ready_seen: int = 0

    @property
    def ready_line(self) -> str:
        return f"brook broker {self.node_id} ready"

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

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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

    def command(self) -> list[str]:
        if self.program:
            head = list(self.program)
        elif self.warp_clock:
            head = [sys.executable, "-m", "brook.testing.warp_broker",
                    "--clock-file", str(self.clock_file)]
        else:
            head = [sys.executable, "-m", "brook", "broker"]
        advertised = self.port if self.advertised_port is None else self.advertised_port
        cmd = [
            *self.prefix, *head, "--node-id", str(self.node_id),
            "--listeners", (self.listeners or "PLAINTEXT://127.0.0.1:{port}").format(
                port=self.port),
            "--advertised-listeners",
            (self.advertised_listeners or f"PLAINTEXT://127.0.0.1:{advertised}").format(
                port=self.port),
            "--data-dir", str(self.data_dir), "--log-level", self.log_level,
        ]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        return cmd

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self._ready_seen = self.output().count(self.ready_line)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )

    def _wait_ready(self, timeout: float) -> None:
        proc = self.proc
        assert proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output().count(self.ready_line) > self._ready_seen:
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
            if sig != signal.SIGKILL:
                proc.send_signal(signal.SIGCONT)  # a stopped process acts on it only once continued
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
