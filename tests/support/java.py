"""The Java half of the Kafka world as clients under test.

``make java`` resolves ``tests/java/pom.xml`` (Kafka's clients, tools, Streams, the Connect
runtime, the MSK IAM signer and Kafka's own broker) into the local Maven cache, outside the
repository, and writes the classpath to ``build/java/classpath.txt``; nothing is downloaded
while tests run. This module launches the JVM on that classpath three ways:

- :func:`run_tool` runs a main class to completion — Kafka's command-line tools, whose shell
  scripts are thin wrappers around exactly these classes (:data:`KAFKA_SCRIPTS`);
- :func:`run_program` runs a single-file Java program from ``tests/java/programs``, compiled
  once into ``build/java/programs`` (:func:`compiled_program`; a changed source or classpath
  compiles again) rather than by the source launcher on every run, which costs a second and a
  half of compiling each time;
- :class:`JavaProcess` keeps a JVM running (a Connect worker, a Kafka broker) until stopped.

Every JVM starts from a class-data archive of the Kafka classes (:func:`class_archive`) once
one exists: a tool's run then takes a third of its time. The first tool run of a checkout (or
of a new classpath or JVM) writes it at its exit; a JVM that cannot use it (another
classpath) silently loads its classes as usual, and the JVM's own notes about the archive are
turned off, so a tool's output is the same either way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.brokers import REPO

__all__ = [
    "CLASSPATH_FILE",
    "KAFKA_SCRIPTS",
    "PROGRAMS",
    "JavaProcess",
    "classpath",
    "java_command",
    "kafka_script",
    "run_program",
    "run_tool",
]

CLASSPATH_FILE = REPO / "build" / "java" / "classpath.txt"
PROGRAMS = REPO / "tests" / "java" / "programs"

KAFKA_SCRIPTS: Mapping[str, str] = {
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer.sh": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer.sh": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
    "kafka-get-offsets.sh": "org.apache.kafka.tools.GetOffsetShell",
    "kafka-delete-records.sh": "org.apache.kafka.tools.DeleteRecordsCommand",
    "kafka-producer-perf-test.sh": "org.apache.kafka.tools.ProducerPerformance",
    "kafka-consumer-perf-test.sh": "org.apache.kafka.tools.ConsumerPerformance",
    "kafka-log-dirs.sh": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-leader-election.sh": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-reassign-partitions.sh": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-transactions.sh": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-server-start.sh": "kafka.Kafka",
    "connect-distributed.sh": "org.apache.kafka.connect.cli.ConnectDistributed",
}
"""Kafka's shell scripts and the main class each one runs (Kafka 4.x ``bin/``)."""

_QUIET = ("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.logFile=System.err")
_SHORT_LIVED = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto")
_ARCHIVE_SILENT = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")
_archive_attempted = False


def classpath() -> str:
    """The resolved classpath; a clear failure (not a skip) when ``make java`` has not run."""
    try:
        cp = CLASSPATH_FILE.read_text().strip()
    except FileNotFoundError:
        raise RuntimeError(f"{CLASSPATH_FILE} is missing: run `make java` first") from None
    if not cp:
        raise RuntimeError(f"{CLASSPATH_FILE} is empty: run `make java` again")
    return cp


def class_archive(cp: str) -> Path:
    """Where the class-data archive for ``cp`` and this JVM lives (beside the classpath
    file): a new classpath or another JVM build gets an archive of its own."""
    key = hashlib.sha256(f"{_java_identity()}\0{cp}".encode()).hexdigest()[:16]
    return CLASSPATH_FILE.parent / f"classes-{key}.jsa"


def _archive_options(cp: str) -> list[str]:
    archive = class_archive(cp)
    if archive.exists():
        return [*_ARCHIVE_SILENT, f"-XX:SharedArchiveFile={archive}"]
    return list(_ARCHIVE_SILENT)


def _java_identity() -> str:
    java = os.path.realpath(shutil.which("java") or "java")
    stamp = os.stat(java).st_mtime_ns if os.path.exists(java) else 0
    return f"{java}\0{stamp}"


def compiled_program(source: Path) -> Path:
    """The directory of ``source``'s classes, compiled with ``javac`` on first use (into a
    temporary directory renamed whole, so a run never sees half a compilation)."""
    cp = classpath()
    key = hashlib.sha256(source.read_bytes() + f"\0{cp}\0{_java_identity()}".encode())
    out = CLASSPATH_FILE.parent / "programs" / f"{source.stem}-{key.hexdigest()[:16]}"
    if out.is_dir():
        return out
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    done = subprocess.run(
        ["javac", "-proc:none", "-nowarn", "-encoding", "UTF-8", "-cp", cp, "-d", str(tmp),
         str(source)], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise AssertionError(f"javac {source.name} failed:\n{done.stdout}{done.stderr}")
    try:
        tmp.rename(out)
    except OSError:  # another run compiled it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def java_command(
    main: str | Path,
    *args: str,
    heap: str = "256m",
    sysprops: Mapping[str, str] | None = None,
    short_lived: bool = True,
    log_level: str = "warn",
) -> list[str]:
    """The ``java`` command line for a main class (or a single-file program's path)."""
    cp = classpath()
    if str(main).endswith(".java"):
        # The program's classes go after the Kafka jars: the class archive's classpath must
        # stay a prefix of the JVM's.
        source = Path(main)
        cp, main = cp + os.pathsep + str(compiled_program(source)), source.stem
    cmd = ["java", f"-Xmx{heap}", *(_SHORT_LIVED if short_lived else ())]
    cmd += _archive_options(classpath())
    cmd += [f"-Dorg.slf4j.simpleLogger.defaultLogLevel={log_level}", _QUIET[1]]
    cmd += [f"-D{k}={v}" for k, v in (sysprops or {}).items()]
    cmd += ["-cp", cp, str(main), *args]
    return cmd


def run_tool(
    main: str,
    *args: str,
    input: str | None = None,
    timeout: float = 90.0,
    check: bool = True,
    sysprops: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Java main class to completion; ``check`` fails with its output on a non-zero exit."""
    cmd = java_command(main, *args, sysprops=sysprops)
    dump = _archive_to_write(main)
    if dump is not None:
        cmd.insert(1, f"-XX:ArchiveClassesAtExit={dump}")
    finished = False
    try:
        cp = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
        finished = True
    finally:
        if dump is not None:
            _adopt_archive(dump, finished)
    if check and cp.returncode != 0:
        raise AssertionError(
            f"{main} {' '.join(args)} exited {cp.returncode}\n--- stdout\n{cp.stdout[-4000:]}"
            f"\n--- stderr\n{cp.stderr[-4000:]}"
        )
    return cp


def _archive_to_write(main: str) -> Path | None:
    """Where the first tool run (one of Kafka's main classes: a compiled program's directory
    on the classpath cannot go into an archive) of a test run without an archive writes one,
    else None."""
    global _archive_attempted
    archive = class_archive(classpath())
    if _archive_attempted or archive.exists() or main.endswith(".java"):
        return None
    _archive_attempted = True
    return archive.with_name(f"{archive.stem}.{os.getpid()}.tmp")


def _adopt_archive(dump: Path, finished: bool) -> None:
    """An archive the JVM wrote at its own exit becomes the one every JVM uses (renamed
    whole, so no JVM sees a partial one; one killed on a timeout is dropped)."""
    if finished and dump.exists() and dump.stat().st_size > 0:
        os.replace(dump, class_archive(classpath()))
    else:
        dump.unlink(missing_ok=True)


def kafka_script(script: str, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """Run one of Kafka's scripts by its name (``kafka-topics.sh``), as its wrapper would."""
    return run_tool(KAFKA_SCRIPTS[script], *args, **options)  # type: ignore[arg-type]


def run_program(name: str, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """Run ``tests/java/programs/<name>.java`` as a single-file source program."""
    return run_tool(str(PROGRAMS / f"{name}.java"), *args, **options)  # type: ignore[arg-type]


@dataclass
class JavaProcess:
    """A long-running JVM (a Connect worker, a Kafka broker) whose output is kept for asserts.

    ``start`` returns once ``ready`` appears in its combined output, or fails with that output.
    """

    main: str
    args: Sequence[str] = ()
    heap: str = "512m"
    sysprops: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _lines: list[str] = field(default_factory=list, init=False, repr=False)
    _reader: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self, ready: str, timeout: float = 90.0) -> None:
        cmd = java_command(
            self.main, *self.args, heap=self.heap, sysprops=self.sysprops,
            short_lived=False, log_level=self.log_level,
        )
        self._lines = []
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=self.cwd,
            env={**os.environ, **self.env}, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(ready in line for line in list(self._lines)):
                return
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.main} not ready ({ready!r}):\n{self.output()[-6000:]}")

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.append(line)

    def output(self) -> str:
        return "".join(self._lines)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (the JVM's shutdown hooks run), then SIGKILL if it does not exit in time."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        return self._proc.returncode

    def kill(self) -> None:
        """kill -9 the JVM."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
