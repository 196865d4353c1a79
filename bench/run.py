"""Benchmark runner: brook against peer brokers (tansu, Apache Kafka), same clients, same machine.

    python -m bench.run [--brokers brook,peer,kafka] [--scenarios a,b,...] [--duration S]
                        [--repeat R] [--out FILE] [--smoke] [--table FILE]

Prints one JSON object per line (a header with machine information, one line per broker,
scenario, parameters and repeat, a footer), then a markdown table of medians and ratios.
Every measurement runs against a freshly started broker that is torn down afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, TextIO

from bench import kafka, report
from bench.procs import Broker, BrokerUnavailable, tansu_binary
from bench.scenarios import SCENARIOS, Settings, warm_up

BROKERS = ("brook", "peer", "kafka", "floor")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _cmd_output(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (res.stdout or res.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable: {e}"


def _first(v: Any) -> str:
    return str(v[0] if isinstance(v, tuple) else v)


def _proc_cpu() -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(name)] = (stat[stat.index("(") + 1 : stat.rindex(")")],
                          int(fields[11]) + int(fields[12]))
    return out


def busiest_processes(window: float = 1.0) -> list[str]:
    """Other processes using CPU right now: '<pid> <comm> <% of a core>' over `window` s."""
    before = _proc_cpu()
    time.sleep(window)
    after = _proc_cpu()
    rows = [(ticks - before[pid][1], pid, comm) for pid, (comm, ticks) in after.items()
            if pid in before and pid != os.getpid() and ticks > before[pid][1]]
    rows.sort(reverse=True)
    tck = os.sysconf("SC_CLK_TCK")
    return [f"{pid} {comm} {100 * d / tck / window:.0f}%" for d, pid, comm in rows[:6]]


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass
    mem_kib = 0
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    with open("/proc/loadavg") as f:
        loadavg = f.read().split()
    import confluent_kafka

    try:
        peer = _cmd_output([tansu_binary(), "--version"])
    except RuntimeError as e:
        peer = str(e)
    return {
        "type": "header", "ts": _now(),
        "cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
        "cpu_model": model, "kernel": platform.release(), "mem_total_mib": mem_kib // 1024,
        "loadavg_start": [float(x) for x in loadavg[:3]], "procs_running": loadavg[3],
        "busiest_processes_start": busiest_processes(),
        "python": platform.python_version(),
        "client": f"confluent-kafka {_first(confluent_kafka.version())}, "
                  f"librdkafka {_first(confluent_kafka.libversion())}",
        "peer": f"{peer} (memory://tansu/ storage)",
        "kafka": kafka.describe(),
        "data_dir_parent": tempfile.gettempdir(),
    }


class Output:
    def __init__(self, out_path: str | None) -> None:
        self.records: list[dict[str, Any]] = []
        self.file: TextIO | None = open(out_path, "a") if out_path else None

    def emit(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        line = json.dumps(rec, default=str)
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def probe(kind: str, settings: Settings) -> str | None:
    """Start and stop the broker once; None if it works, else why not."""
    # A JVM on a loaded 2-core machine takes far longer to start than a native or Python broker.
    b = Broker(kind, overrides=settings.overrides(kind),
               ready_timeout=120.0 if kind == "kafka" else 30.0)
    try:
        b.start()
        return None
    except (BrokerUnavailable, RuntimeError, OSError) as e:
        return str(e)
    finally:
        b.close()


def run_case(kind: str, scen_name: str, params: dict[str, Any], repeat: int,
             settings: Settings) -> dict[str, Any]:
    scen = SCENARIOS[scen_name]
    rec: dict[str, Any] = {"broker": kind, "scenario": scen_name, "params": params,
                           "repeat": repeat}
    b = Broker(kind, overrides=settings.overrides(kind),
               ready_timeout=120.0 if kind == "kafka" else 60.0)
    t0 = time.perf_counter()
    try:
        rec["broker_start_s"] = round(b.start(), 3)
        if scen.warm and settings.warmup > 0:
            rec["warmup"] = warm_up(b, settings)
        rec.update(scen.run(b, params, settings))
        if b.proc is not None and b.proc.poll() is not None:
            rec["error"] = f"broker exited with {b.proc.returncode}: {b.log_tail()}"
    except Exception as e:
        rec["error"] = f"{type(e).__name__}: {e}"
        tail = b.log_tail(400)
        if tail:
            rec["broker_log_tail"] = tail
    finally:
        b.close()
    rec["wall_s"] = round(time.perf_counter() - t0, 2)
    rec["ts"] = _now()
    return rec


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default=",".join(BROKERS), help="comma list of brook,peer,kafka,floor")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma list of {','.join(SCENARIOS)}")
    ap.add_argument("--duration", type=float, help="seconds of load per measurement (10)")
    ap.add_argument("--repeat", type=int, help="repeats per measurement (3)")
    ap.add_argument("--out", help="also append the JSON lines to this file")
    ap.add_argument("--smoke", action="store_true",
                    help="light run: --duration 2 --repeat 1 --startup-partitions 1000 "
                         "--max-mb 256 unless given")
    ap.add_argument("--max-mb", type=int, help="cap on MB produced per measurement (2048)")
    ap.add_argument("--startup-partitions", type=int, help="partitions for startup (10000)")
    ap.add_argument("--latency-rate", type=int, default=1000, help="msg/s for latency")
    ap.add_argument("--rebalance-delay-ms", type=int, default=3000,
                    help="brook's and Kafka's group.initial.rebalance.delay.ms "
                         "(Kafka's default 3000)")
    ap.add_argument("--warmup", type=float, default=10.0,
                    help="seconds of unmeasured load on each fresh broker before it is "
                         "measured (all brokers alike; the JVM compiles its hot paths), 0: none")
    ap.add_argument("--table", metavar="FILE", help="only print the table for a JSON-lines file")
    ap.add_argument("--list", action="store_true", help="list scenarios and exit")
    return ap.parse_args(argv)


def settings_from(a: argparse.Namespace) -> Settings:
    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if a.smoke else full)

    return Settings(duration=pick(a.duration, 10.0, 2.0), max_mb=pick(a.max_mb, 2048, 256),
                    latency_rate=a.latency_rate, rebalance_delay_ms=a.rebalance_delay_ms,
                    startup_partitions=pick(a.startup_partitions, 10_000, 1000),
                    warmup=a.warmup)


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.table:
        print(report.table(report.load_jsonl(a.table)))
        return 0
    if a.list:
        for s in SCENARIOS.values():
            print(f"{s.name:13} {'/'.join(s.brokers):11} {s.about}")
        return 0
    brokers = [b for b in a.brokers.split(",") if b]
    scenarios = [s for s in a.scenarios.split(",") if s]
    unknown = [b for b in brokers if b not in BROKERS] + [s for s in scenarios
                                                          if s not in SCENARIOS]
    if unknown:
        print(f"unknown broker or scenario: {', '.join(unknown)}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)  # unwind so brokers and workers are torn down
    settings = settings_from(a)
    repeats = a.repeat if a.repeat is not None else (1 if a.smoke else 3)
    out = Output(a.out)
    started = time.perf_counter()
    try:
        header = machine_info()
        header.update(settings=vars(settings), repeats=repeats, brokers=brokers,
                      scenarios=scenarios)
        out.emit(header)
        live: list[str] = []
        for kind in brokers:
            log(f"probing {kind}")
            why = probe(kind, settings)
            out.emit({"type": "broker", "broker": kind, "available": why is None,
                      **({"error": why} if why else {}), "ts": _now()})
            if why is None:
                live.append(kind)
            else:
                log(f"{kind} unavailable, carrying on without it: {why[:200]}")
        for scen_name in scenarios:
            scen = SCENARIOS[scen_name]
            for params in scen.grid(settings):
                for rep in range(repeats):
                    for kind in live:  # interleaved, so drift on the machine hits both
                        if kind not in scen.brokers:
                            continue
                        log(f"{kind} {scen_name} {report.params_key(params)} #{rep}")
                        out.emit(run_case(kind, scen_name, params, rep, settings))
    except KeyboardInterrupt:
        log("interrupted; brokers are torn down, printing what was measured")
    finally:
        with open("/proc/loadavg") as f:
            load_end = [float(x) for x in f.read().split()[:3]]
        out.emit({"type": "footer", "ts": _now(), "loadavg_end": load_end,
                  "elapsed_s": round(time.perf_counter() - started, 1)})
        out.close()
    print()
    print(report.table(out.records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
