"""A broker whose advertised listener differs from the one it binds (e.g. a proxy's port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class SplitListenerBroker:
    """``brook broker`` bound to ``listen_port`` but advertising ``advertised_port``."""

    data_dir: Path
    advertised_port: int
    listen_port: int = field(default_factory=free_port)
    overrides: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"broker-{self.listen_port}.log"

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "brook", "broker", "--node-id", "1",
            "--listeners", f"PLAINTEXT://127.0.0.1:{self.listen_port}",
            "--advertised-listeners", f"PLAINTEXT://127.0.0.1:{self.advertised_port}",
            "--data-dir", str(self.data_dir), "--log-level", "WARNING",
        ]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wait_listening(self.listen_port, self.proc)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        proc, self.proc = self.proc, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(5)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
