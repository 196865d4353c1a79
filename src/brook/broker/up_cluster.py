"""``brook up --azs N --brokers-per-az M``: a local cluster spread over availability zones.

It starts one etcd (Debian's ``etcd-server``, which ``make up`` installs) for the cluster's
metadata, then N x M broker processes — broker ``i`` listens on ``port + i - 1`` with its
data in ``<data-dir>/broker-i`` and its rack named like an MSK availability-zone id
(``use1-az1``, ``use1-az2``, ...) — and a Connect worker bootstrapped from all of them. It
prints the bootstrap string of every broker once all serve, and on Ctrl-C stops the worker,
then the brokers (cleanly, SIGTERM), then etcd. A broker that exits meanwhile is started again,
as a managed service replaces a failed broker. The cluster id is kept in
``<data-dir>/cluster.id``, so the next ``brook up`` starts the same cluster again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ClusterPlan", "az_id", "run_cluster", "start_etcd"]

_READY_S = 60.0
_RESTART_BACKOFF_S = 5.0


def az_id(az: int) -> str:
    """MSK's availability-zone ids look like ``use1-az1``: brook names racks the same way."""
    return f"use1-az{az}"


@dataclass(frozen=True)
class ClusterPlan:
    data_dir: Path
    host: str
    port: int
    azs: int
    brokers_per_az: int
    etcd_port: int
    connect_port: int
    with_connect: bool
    log_level: str

    @property
    def brokers(self) -> list[tuple[int, str, int]]:
        """``(node id, rack, port)`` of every broker: ids go round the AZs first."""
        total = self.azs * self.brokers_per_az
        return [(i + 1, az_id(i % self.azs + 1), self.port + i) for i in range(total)]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.host}:{port}" for _, _, port in self.brokers)


def _cluster_id(data_dir: Path) -> str:
    path = data_dir / "cluster.id"
    if path.exists():
        return path.read_text().strip()
    cluster_id = "brook-" + os.urandom(8).hex()
    path.write_text(cluster_id + "\n")
    return cluster_id


def _wait_line(path: Path, needle: str, proc: subprocess.Popen[bytes], start: int) -> bool:
    deadline = time.monotonic() + _READY_S
    while time.monotonic() < deadline and proc.poll() is None:
        with path.open("rb") as f:
            f.seek(start)
            if needle.encode() in f.read():
                return True
        time.sleep(0.1)
    return False


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    start = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    return proc, start


def start_etcd(data_dir: Path, host: str, client_port: int) -> subprocess.Popen[bytes]:
    """One etcd member for a local cluster (its peer port is the next one), its data under
    ``data_dir/etcd`` and its log in ``data_dir/etcd.log``; returns once it serves."""
    etcd = shutil.which("etcd")
    if etcd is None:
        raise RuntimeError("etcd is not installed (Debian: apt-get install etcd-server; "
                           "`make up` installs it)")
    client = f"http://{host}:{client_port}"
    peer = f"http://{host}:{client_port + 1}"
    log_path = data_dir / "etcd.log"
    proc, start = _spawn([
        etcd, "--name", "brook-etcd", "--data-dir", str(data_dir / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"brook-etcd={peer}",
    ], log_path)
    if not _wait_line(log_path, "ready to serve client requests", proc, start):
        _stop([proc])
        raise RuntimeError(f"etcd did not start; see {log_path}")
    return proc


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cluster(plan: ClusterPlan) -> int:
    plan.data_dir.mkdir(parents=True, exist_ok=True)
    cluster_id = _cluster_id(plan.data_dir)
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        etcd = start_etcd(plan.data_dir, plan.host, plan.etcd_port)
    except RuntimeError as exc:
        print(f"brook up: {exc}", file=sys.stderr)
        return 1
    brokers: list[subprocess.Popen[bytes]] = []
    worker: subprocess.Popen[bytes] | None = None
    try:
        waits = []
        commands = {}
        for node_id, rack, port in plan.brokers:
            log_path = plan.data_dir / f"broker-{node_id}.log"
            listener = f"PLAINTEXT://{plan.host}:{port}"
            commands[node_id] = [
                sys.executable, "-m", "brook", "broker", "--node-id", str(node_id),
                "--listeners", listener, "--data-dir", str(plan.data_dir / f"broker-{node_id}"),
                "--rack", rack, "--metadata", f"etcd://{plan.host}:{plan.etcd_port}",
                "--cluster-id", cluster_id, "--log-level", plan.log_level,
            ]
            proc, start = _spawn(commands[node_id], log_path)
            brokers.append(proc)
            waits.append((node_id, log_path, proc, start))
        for node_id, log_path, proc, start in waits:
            if not _wait_line(log_path, f"brook broker {node_id} ready", proc, start):
                print(f"brook up: broker {node_id} did not start; see {log_path}", file=sys.stderr)
                return 1
        lines = [
            f"brook is up: {len(brokers)} brokers in {plan.azs} availability zones "
            f"(cluster {cluster_id}, metadata in etcd at {plan.host}:{plan.etcd_port}).",
            f"Bootstrap servers: {plan.bootstrap}",
            f"  try: brook cluster describe --bootstrap-server {plan.bootstrap}",
        ]
        if plan.with_connect:
            env = dict(os.environ)
            env["BROOK_S3_DEFAULT_STORE_URL"] = (plan.data_dir / "s3").resolve().as_uri()
            worker, _ = _spawn([sys.executable, "-m", "brook", "connect", "--bootstrap-server",
                                plan.bootstrap, "--rest-port", str(plan.connect_port)],
                               plan.data_dir / "connect.log", env)
            lines.append(f"Kafka Connect REST API: http://127.0.0.1:{plan.connect_port} "
                         f"(log: {plan.data_dir / 'connect.log'})")
        print("\n".join(lines), flush=True)
        # Like a managed service replacing a failed broker: one that exits is started again
        # (at most every few seconds), and rejoins the cluster with a new broker epoch.
        restarted_at: dict[int, float] = {}
        while not stop_requested:
            time.sleep(0.2)
            for i, proc in enumerate(brokers):
                node_id = i + 1
                if proc.poll() is None:
                    continue
                if time.monotonic() - restarted_at.get(node_id, 0.0) < _RESTART_BACKOFF_S:
                    continue
                print(f"brook up: broker {node_id} exited ({proc.returncode}); starting it again "
                      f"(log: {plan.data_dir / f'broker-{node_id}.log'})", file=sys.stderr, flush=True)
                restarted_at[node_id] = time.monotonic()
                brokers[i], _ = _spawn(commands[node_id], plan.data_dir / f"broker-{node_id}.log")
        return 0
    finally:
        if worker is not None:
            _stop([worker])
        _stop(brokers)
        _stop([etcd])
