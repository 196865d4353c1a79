"""Apache Kafka as a peer: one combined-mode KRaft node from the jars `make java` resolved.

The node runs with Kafka's defaults except what a single node needs, and on the JVM options
Kafka's own `kafka-server-start.sh` uses (heap -Xmx1G -Xms1G, G1 with Kafka's pause target), so
the figures are those of a Kafka installed from the release and started as documented. The
storage is formatted once per data directory with Kafka's `StorageTool` (Kafka refuses to start
on an unformatted log directory), outside the start timer.

bench/ does not import tests/: the launch here is bench's own, sharing only the classpath file.
"""

from __future__ import annotations

import base64
import re
import subprocess
import uuid
from pathlib import Path

CLASSPATH_FILE = Path(__file__).resolve().parent.parent / "build" / "java" / "classpath.txt"

# What kafka-server-start.sh and kafka-run-class.sh put on the java command line by default.
HEAP = ("-Xmx1G", "-Xms1G")
JVM_PERFORMANCE = ("-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                   "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                   "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true")
# The resolved classpath logs through slf4j-simple; INFO is Kafka's shipped broker log level.
LOGGING = ("-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
           "-Dorg.slf4j.simpleLogger.showDateTime=true")
READY_LINE = "Kafka Server started"  # logged by KafkaRaftServer once broker and controller run

MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def one_node_overrides(rebalance_delay_ms: int) -> dict[str, str]:
    """The settings a one-node cluster cannot run without, plus the group delay all brokers share.

    Kafka's internal topics default to replication factor 3 (and min ISR 2): on one node the
    consumer-offsets topic could never be created, so no group could commit or even join.
    `group.initial.rebalance.delay.ms` is set to the value brook runs with (Kafka's own default,
    3,000 ms, unless `--rebalance-delay-ms` says otherwise), so `group_join` compares the same
    wait on both.
    """
    return {
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": str(rebalance_delay_ms),
    }


def server_properties(port: int, controller_port: int, log_dir: Path,
                      overrides: dict[str, str], node_id: int = 1) -> str:
    """server.properties for a combined broker+controller node on loopback ports."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": f"{node_id}@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        **overrides,
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def classpath(path: Path = CLASSPATH_FILE) -> str:
    try:
        cp = path.read_text().strip()
    except FileNotFoundError:
        raise RuntimeError(f"{path} is missing: run `make java` first") from None
    if not cp:
        raise RuntimeError(f"{path} is empty: run `make java` again")
    return cp


def server_command(properties: Path, cp: str) -> list[str]:
    """The broker's java command line, as kafka-server-start.sh builds it (no GC log, no JMX)."""
    return ["java", *HEAP, *JVM_PERFORMANCE, *LOGGING, "-cp", cp, MAIN, str(properties)]


def format_command(properties: Path, cp: str, cluster_id: str) -> list[str]:
    # A short-lived tool: small heap, no JIT beyond C1, as kafka-run-class.sh does for tools.
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", cp, STORAGE_TOOL,
            "format", "-t", cluster_id, "-c", str(properties)]


def new_cluster_id() -> str:
    """A cluster id as `kafka-storage.sh random-uuid` prints it (URL-safe base64, no padding).

    Like Kafka's `Uuid.randomUuid`, never one that starts with "-": the storage tool's argument
    parser would take it for an option and refuse to format.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def format_storage(properties: Path, log_dir: Path, cp: str, timeout: float = 120.0) -> None:
    """Format `log_dir` unless it already is (a restart keeps its cluster id and data)."""
    if (log_dir / "meta.properties").exists():
        return
    res = subprocess.run(format_command(properties, cp, new_cluster_id()), capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RuntimeError(f"kafka storage format exited with {res.returncode}: "
                           f"{(res.stdout + res.stderr)[-600:]}")


def version(cp: str) -> str:
    """Kafka's version, from the broker jar's name on the classpath (kafka_2.13-X.Y.Z.jar)."""
    m = re.search(r"kafka_[\d.]+-([\w.-]+?)\.jar", cp)
    return m.group(1) if m else "unknown"


def java_version() -> str:
    try:
        res = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable: {e}"
    first = (res.stderr or res.stdout).strip().splitlines()
    return first[0] if first else "unknown"


def describe() -> str:
    """One line for the results header: Kafka's version, the JVM and its options."""
    try:
        cp = classpath()
    except RuntimeError as e:
        return str(e)
    return (f"Apache Kafka {version(cp)} (one KRaft broker+controller, log on disk), "
            f"{java_version()}, {' '.join(HEAP + JVM_PERFORMANCE)}")
