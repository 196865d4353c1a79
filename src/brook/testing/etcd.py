"""A real etcd (Debian's ``etcd-server``, which ``make test`` installs) for tests.

One member on two free loopback ports and a data directory of the test's own; ready means
etcd's own "ready to serve client requests" line. ``pause``/``resume`` stop and continue the
process (SIGSTOP/SIGCONT), ``kill`` is kill -9, and ``start`` again restarts it on the same
ports and data, as a cluster sees a restarted member.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from brook.testing.process import free_port

__all__ = ["EtcdServer", "etcd_fixture"]

_READY = "ready to serve client requests"


@dataclass
class EtcdServer:
    data_dir: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    name: str = "etcd-test"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.name}.log"

    def start(self, timeout: float = 30.0) -> None:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [
            "etcd", "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--initial-cluster-state", "new",
        ]
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        out = self.log_path.open("ab")
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as f:
                f.seek(start_at)
                if _READY.encode() in f.read():
                    return
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"etcd did not start:\n{self.log_path.read_text()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pause(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGCONT)
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGCONT)
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode


def etcd_fixture(tmp_path: Path) -> EtcdServer:
    """A started etcd in ``tmp_path/etcd`` (the caller stops it)."""
    server = EtcdServer(tmp_path / "etcd" / "data")
    server.data_dir.parent.mkdir(parents=True, exist_ok=True)
    server.start()
    return server
