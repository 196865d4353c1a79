"""``brook up --azs 2 --brokers-per-az 2``: a local etcd and four brokers in two availability
zones; the tutorial's topic (replication factor 2) lands in both zones, the console tools work
through any broker, killing the controller stops topic creation for seconds only, and Ctrl-C
stops everything."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.brokers import REPO

pytestmark = pytest.mark.timeout(240)


def _free_run(n: int) -> int:
    """A base port with ``n`` consecutive free loopback ports after it."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65535:
            continue
        try:
            socks = []
            for p in range(base, base + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


def brook(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brook", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout, cwd=REPO)


def test_a_two_az_cluster_runs_the_tutorial_and_survives_its_controller(tmp_path: Path) -> None:
    base, etcd_port = _free_run(4), _free_run(2)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "brook", "up", "--azs", "2", "--brokers-per-az", "2",
         "--data-dir", str(data), "--port", str(base), "--etcd-port", str(etcd_port),
         "--no-connect", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(2)]
        everyone = ",".join(f"127.0.0.1:{base + i}" for i in range(4))
        assert f"Bootstrap servers: {everyone}" in banner[1], banner

        made = brook("topics", "--bootstrap-server", everyone, "--create", "--replication-factor",
                     "2", "--partitions", "1", "--topic", "MSKTutorialTopic")
        assert made.returncode == 0, made.stderr
        described = brook("topics", "--bootstrap-server", f"127.0.0.1:{base + 3}", "--describe",
                          "--topic", "MSKTutorialTopic")
        assert described.returncode == 0, described.stderr
        replicas = described.stdout.split("Replicas: ")[1].split()[0].split(",")
        # Brokers 1, 3 are in use1-az1 and 2, 4 in use1-az2.
        assert {int(r) % 2 for r in replicas} == {0, 1}, described.stdout

        sent = brook("produce", "--bootstrap-server", f"127.0.0.1:{base + 2}", "--topic",
                     "MSKTutorialTopic", stdin="hello\nworld\n")
        assert sent.returncode == 0, sent.stderr
        got = brook("consume", "--bootstrap-server", f"127.0.0.1:{base + 1}", "--topic",
                    "MSKTutorialTopic", "--from-beginning", "--max-messages", "2")
        assert got.stdout.split() == ["hello", "world"], (got.stdout, got.stderr)

        cluster = brook("cluster", "describe", "--bootstrap-server", everyone)
        assert cluster.returncode == 0, cluster.stderr
        controller = int(cluster.stdout.split("Controller: ")[1].split()[0])
        assert "use1-az1" in cluster.stdout and "use1-az2" in cluster.stdout
        pid = int(subprocess.run(["pgrep", "-f", "--", f"--node-id {controller} .*:{base + controller - 1}"],
                                 capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        other = f"127.0.0.1:{base + (controller % 4)}"
        while True:
            made = brook("topics", "--bootstrap-server", other, "--create", "--topic",
                         "after-controller-kill", "--partitions", "2", "--replication-factor", "2")
            if made.returncode == 0:
                break
            assert time.monotonic() - started < 30, made.stderr
            time.sleep(0.2)
        assert time.monotonic() - started < 15
        # brook up starts the killed broker again; it rejoins (a new epoch) and serves.
        deadline = time.monotonic() + 60
        while True:
            cluster = brook("cluster", "describe", "--bootstrap-server", other)
            if "Brokers: 4 active, 0 fenced" in cluster.stdout:
                break
            assert time.monotonic() < deadline, cluster.stdout + cluster.stderr
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    left = subprocess.run(["pgrep", "-f", "--", str(data)], capture_output=True, text=True).stdout
    assert not left.strip(), f"processes left running: {left}"
