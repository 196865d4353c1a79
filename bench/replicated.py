"""What replication costs: produce throughput and end-to-end latency on a 3-broker cluster.

One etcd and three brokers in three racks, as ``brook up --azs 3 --brokers-per-az 1`` makes
them (the product's defaults, clients and replicas on loopback), all on this machine together
with the load generators — on a 2-core box the three brokers, etcd and the clients share two
cores, which the header says, so the figures are for comparing within one run, not for sizing
a cluster. Every topic has one partition led by broker 1 (its replica list is given), so the
RF=1 and RF=3 measurements differ only in the followers.

* ``produce``: 1 KiB records, acks=all, one confluent-kafka producer flat out (the load of
  ``bench.run``'s ``produce`` scenario) on an RF=3 topic and on an RF=1 topic, interleaved,
  in the same run; the ratio RF=3 / RF=1 of messages per second is the cost of waiting for the
  ISR. Broker CPU is reported for the leader and for the whole cluster (followers fetch).
* ``latency``: 1,000 msg/s of stamped 100 B records (``--latency-value-size``), acks=all, a
  consumer with default ``fetch.wait.max.ms``: receive time - produce time, p50 / p99 / max,
  on RF=3 (the figure; target p99 <= 20 ms) and on RF=1 (what the ISR adds).

    python -m bench.replicated [--duration 10] [--repeat 3] [--scenarios produce,latency]
                               [--rate 1000] [--out FILE]

JSON lines on stdout (a header, one line per measurement, one summary line per scenario);
progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench import child, load
from bench.procs import cpu_seconds
from brook.testing.fault_cluster import ClusterConfig, FaultCluster

KIB = 1024
LEADER = 1
LATENCY_TARGET_P99_MS = 20.0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def header() -> dict[str, Any]:
    from bench.run import busiest_processes, machine_info

    info = machine_info()
    keep = ("cores", "cores_usable", "cpu_model", "kernel", "mem_total_mib", "python", "client")
    out: dict[str, Any] = {"type": "header", "bench": "replicated", "ts": _now()}
    out.update({k: info[k] for k in keep})
    out.update(loadavg_start=_loadavg(), busiest_processes_start=busiest_processes(),
               note=(f"3 brokers, etcd and the load generators share {info['cores_usable']} "
                     f"cores; compare RF=3 with RF=1 within this run only"))
    return out


class Cluster:
    """The benchmark's cluster: :class:`FaultCluster` without proxies or disk-stall layer (the
    product itself, brokers reaching etcd and each other directly)."""

    def __init__(self, work: Path) -> None:
        config = ClusterConfig(session_timeout_ms=None, replica_lag_ms=None, proxies=False,
                               stallable_disks=False, cluster_id="bench-replicated")
        self.fc = FaultCluster(work, config, log=lambda line: print(line, file=sys.stderr))

    def start(self) -> None:
        self.fc.start()
        self.fc.wait_settled([], timeout=120)

    def stop(self) -> None:
        self.fc.stop()

    @property
    def bootstrap(self) -> str:
        return self.fc.bootstrap

    def pid(self, n: int) -> int:
        return self.fc.brokers[n].pid

    def pids(self) -> dict[int, int]:
        return {n: b.pid for n, b in self.fc.brokers.items()}

    def create(self, topic: str, rf: int) -> None:
        """One partition led by broker 1 on ``rf`` brokers; returns once every broker sees it
        with its leader and a full ISR."""
        replicas = [LEADER, *[n for n in self.fc.brokers if n != LEADER][: rf - 1]]
        a = AdminClient({"bootstrap.servers": self.bootstrap})
        a.create_topics([NewTopic(topic, num_partitions=1,
                                 replica_assignment=[replicas])],
                        operation_timeout=30)[topic].result(60)
        self.fc.wait_settled([topic], timeout=120)
        if (leader := self.fc.leader(topic, 0)) != LEADER:
            raise RuntimeError(f"{topic}: led by {leader}, not {LEADER}")


class ClusterCpu:
    """CPU seconds of every broker over a window, from /proc (each broker's process tree)."""

    def __init__(self, pids: dict[int, int]) -> None:
        self.pids = pids
        self.start = {n: cpu_seconds(p) for n, p in pids.items()}
        self.t0 = time.perf_counter()

    def metrics(self) -> dict[str, Any]:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        used = {n: cpu_seconds(p) - self.start[n] for n, p in self.pids.items()}
        return {"cluster_cpu_s": round(sum(used.values()), 3),
                "cluster_cpu_pct": round(100 * sum(used.values()) / wall, 1),
                "broker_cpu_pct_by_node": {str(n): round(100 * s / wall, 1)
                                           for n, s in used.items()}}


# ----------------------------------------------------------------------------------- produce

def produce(c: Cluster, rf: int, repeat: int, duration: float) -> dict[str, Any]:
    topic = f"bench-produce-rf{rf}-{repeat}"
    c.create(topic, rf)
    args = {"bootstrap": c.bootstrap, "broker_pid": c.pid(LEADER), "topic": topic,
            "value_size": KIB, "acks": "all", "duration": duration,
            "max_bytes": 2048 * 1_000_000}
    cpu = ClusterCpu(c.pids())
    out = child.run(load.produce, args, duration + 180)
    out.update(cpu.metrics())
    if out.get("messages"):
        out["cluster_cpu_ms_per_mb"] = round(
            1e3 * out["cluster_cpu_s"] / (out["bytes"] / load.MB), 3)
    return out


def produce_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    def median(rf: int, key: str) -> float | None:
        values = [r[key] for r in records if r["rf"] == rf and key in r]
        return round(statistics.median(values), 3) if values else None

    out: dict[str, Any] = {"type": "summary", "scenario": "produce", "value_size": KIB,
                           "acks": "all"}
    for rf in (1, 3):
        for key in ("mb_s", "msgs_s", "broker_cpu_ms_per_mb", "cluster_cpu_ms_per_mb"):
            out[f"rf{rf}_{key}"] = median(rf, key)
    ratios = []
    for r3 in (r for r in records if r["rf"] == 3 and r.get("msgs_s")):
        r1 = next((r for r in records if r["rf"] == 1 and r["repeat"] == r3["repeat"]), None)
        if r1 and r1.get("msgs_s"):
            ratios.append(r3["msgs_s"] / r1["msgs_s"])
    out["ratio_rf3_to_rf1"] = round(statistics.median(ratios), 3) if ratios else None
    out["ratio_rf3_to_rf1_by_repeat"] = [round(x, 3) for x in ratios]
    return out


# ------------------------------------------------------------------------ end-to-end latency

def latency(c: Cluster, rf: int, repeat: int, duration: float, rate: int,
            value_size: int) -> dict[str, Any]:
    topic = f"bench-latency-rf{rf}-{repeat}"
    c.create(topic, rf)
    count = max(1, int(rate * duration))
    base = {"bootstrap": c.bootstrap, "broker_pid": c.pid(LEADER), "topic": topic,
            "value_size": value_size}
    timeout = duration + 180
    cpu = ClusterCpu(c.pids())
    with child.Child(load.latency_consumer,
                     {**base, "expected": count, "timeout": timeout - 30}) as cons:
        cons.wait_for("ready", 60)
        prod = child.run(load.latency_producer, {**base, "count": count, "rate": rate},
                         timeout)
        out = cons.result(timeout)
    out.update({k: prod[k] for k in ("achieved_rate", "late_sends", "undelivered",
                                     "broker_cpu_pct", "client_cpu_pct") if k in prod})
    out.update(cpu.metrics())
    if out["received"] < count:
        out["error"] = f"received {out['received']} of {count} messages"
    return out


def latency_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "summary", "scenario": "latency",
                           "target_p99_ms": LATENCY_TARGET_P99_MS}
    for rf in (1, 3):
        for key in ("p50_ms", "p99_ms", "max_ms"):
            values = [r[key] for r in records if r["rf"] == rf and key in r]
            out[f"rf{rf}_{key}"] = round(statistics.median(values), 3) if values else None
    p99 = out["rf3_p99_ms"]
    out["rf3_meets_target"] = p99 is not None and p99 <= LATENCY_TARGET_P99_MS
    return out


# ------------------------------------------------------------------------------------ runner

class Output:
    def __init__(self, path: str | None) -> None:
        self.file: TextIO | None = open(path, "a") if path else None

    def emit(self, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, default=str)
        print(line, flush=True)
        if self.file is not None:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def warm_up(c: Cluster, seconds: float) -> None:
    """Unmeasured load on an RF=3 topic of its own: first connections, replica fetchers
    running, the interpreter's caches warm (``bench.load.warmup``)."""
    if seconds <= 0:
        return
    c.create("bench-warmup", 3)
    child.run(load.warmup, {"bootstrap": c.bootstrap, "topic": "bench-warmup",
                            "duration": seconds}, seconds + 90)


def measure(out: Output, scenario: str, rf: int, repeat: int,
            fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"[{_now()}] {scenario} rf={rf} repeat={repeat}", file=sys.stderr, flush=True)
    rec: dict[str, Any] = {"type": "result", "bench": "replicated", "scenario": scenario,
                           "rf": rf, "acks": "all", "repeat": repeat, "ts": _now(),
                           "loadavg_1m": _loadavg()[0]}
    try:
        rec.update(fn())
    except Exception as exc:  # one failed measurement is reported, the run goes on
        rec["error"] = f"{type(exc).__name__}: {exc}"
    out.emit(rec)
    return rec


def run(args: argparse.Namespace) -> int:
    out = Output(args.out)
    out.emit(header())
    scenarios = args.scenarios.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-replicated-"))
    cluster = Cluster(work)
    results: dict[str, list[dict[str, Any]]] = {"produce": [], "latency": []}
    failed = False
    try:
        cluster.start()
        warm_up(cluster, args.warmup)
        for r in range(args.repeat):
            # RF=3 and RF=1 alternate in each repeat (and swap order between repeats) so a
            # drift of the machine's load falls on both.
            order = (3, 1) if r % 2 == 0 else (1, 3)
            for rf in order:
                if "produce" in scenarios:
                    results["produce"].append(measure(
                        out, "produce", rf, r,
                        lambda rf=rf, r=r: produce(cluster, rf, r, args.duration)))
            for rf in order:
                if "latency" in scenarios:
                    results["latency"].append(measure(
                        out, "latency", rf, r,
                        lambda rf=rf, r=r: latency(cluster, rf, r, args.duration, args.rate,
                                                   args.latency_value_size)))
    except Exception as exc:  # the cluster itself failed: say so, keep what was measured
        out.emit({"type": "error", "error": f"{type(exc).__name__}: {exc}",
                  "logs": cluster.fc.logs(1500)})
        failed = True
    finally:
        cluster.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    ok = {k: [r for r in v if "error" not in r] for k, v in results.items()}
    if "produce" in scenarios:
        out.emit(produce_summary(ok["produce"]))
    if "latency" in scenarios:
        out.emit({**latency_summary(ok["latency"]), "rate": args.rate,
                  "value_size": args.latency_value_size})
    out.emit({"type": "footer", "ts": _now(), "loadavg_end": _loadavg(),
              "duration_s": args.duration, "repeat": args.repeat})
    out.close()
    errors = [r for v in results.values() for r in v if "error" in r]
    return 1 if failed or errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", default="produce,latency")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000, help="msg/s of the latency scenario")
    parser.add_argument("--latency-value-size", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=6.0,
                        help="seconds of unmeasured load on an RF=3 topic first")
    parser.add_argument("--out", help="append the JSON lines to this file too")
    parser.add_argument("--keep", action="store_true", help="keep the data and broker logs")
    args = parser.parse_args()
    unknown = set(args.scenarios.split(",")) - {"produce", "latency"}
    if unknown:
        parser.error(f"unknown scenarios: {sorted(unknown)}")
    if os.environ.get("BENCH_VERBOSE"):
        print(json.dumps(vars(args)), file=sys.stderr)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
