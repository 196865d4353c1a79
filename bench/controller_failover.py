"""How long topic creation stops when the active controller is killed.

A local cluster as ``brook up --azs 3 --brokers-per-az 1`` makes it: one etcd and three broker
processes with metadata in etcd. Each round finds the active controller (DescribeCluster),
kill -9s it, and times until a CreateTopics sent to another broker succeeds (the client
retries every 50 ms); then it starts the killed broker again and waits until all three serve
before the next round. The default lease of the controller is 3 s, so most of the figure is
that lease running out.

    python -m bench.controller_failover [--rounds 10]

Prints one JSON line per round and a summary line (median, p99, max in seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from bench.procs import free_port
from brook.broker.up_cluster import start_etcd
from brook.cli.cluster import active_controller


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _controller(bootstrap: str) -> tuple[int, int]:
    """(the active controller DescribeCluster names, live brokers Metadata lists)."""
    host, port = bootstrap.rsplit(":", 1)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    live = len(admin.list_topics(timeout=10).brokers)
    return active_controller(host, int(port)), live


def _create_until_ok(bootstrap: str, name: str, limit_s: float = 60.0) -> float:
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            admin.create_topics([NewTopic(name, 1, 1)], request_timeout=2)[name].result(timeout=3)
            return time.monotonic() - started
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return time.monotonic() - started  # an earlier attempt's answer was lost
            last: Exception = exc
        except Exception as exc:  # every failure is retried until the limit
            last = exc
        if os.environ.get("BENCH_VERBOSE"):
            print(f"retry: {last!r}", file=sys.stderr)
        time.sleep(0.05)
    raise RuntimeError(f"topic {name} not created within {limit_s}s")


def run(rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    etcd_port = free_port()
    ports = {n: free_port() for n in (1, 2, 3)}
    procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(n: int) -> None:
        log = work / f"broker-{n}.log"
        seen = log.read_text(errors="replace").count(f"brook broker {n} ready") if log.exists() else 0
        procs[n] = _spawn([sys.executable, "-m", "brook", "broker", "--node-id", str(n),
                           "--listeners", f"PLAINTEXT://127.0.0.1:{ports[n]}",
                           "--data-dir", str(work / f"b{n}"), "--rack", f"use1-az{n}",
                           "--metadata", f"etcd://127.0.0.1:{etcd_port}",
                           "--cluster-id", "bench-failover", "--log-level", "WARNING"], log)
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count(f"brook broker {n} ready") <= seen:
            if time.monotonic() > deadline or procs[n].poll() is not None:
                raise RuntimeError(f"broker {n} did not start; see {log}")
            time.sleep(0.05)

    results = []
    etcd: subprocess.Popen[bytes] | None = None
    try:
        etcd = start_etcd(work, "127.0.0.1", etcd_port)
        for n in ports:
            start(n)
        for r in range(rounds):
            while True:  # every broker agrees on the controller and sees all three
                views = {_controller(f"127.0.0.1:{p}") for p in ports.values()}
                controller, live = next(iter(views))
                if len(views) == 1 and controller > 0 and live == 3:
                    break
                time.sleep(0.2)
            os.kill(procs[controller].pid, signal.SIGKILL)
            procs[controller].wait()
            other = next(p for n, p in ports.items() if n != controller)
            took = _create_until_ok(f"127.0.0.1:{other}", f"failover-{r}")
            record = {"bench": "controller_failover", "round": r, "killed": controller,
                      "create_after_kill_s": round(took, 3)}
            print(json.dumps(record), flush=True)
            results.append(took)
            start(controller)
    finally:
        everything = [*procs.values(), *([etcd] if etcd is not None else [])]
        for p in everything:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in everything:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)
    ordered = sorted(results)
    return {
        "bench": "controller_failover_summary", "rounds": len(results),
        "median_s": round(ordered[len(ordered) // 2], 3),
        "p99_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max_s": round(ordered[-1], 3),
        "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
