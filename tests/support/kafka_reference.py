"""Apache Kafka itself, as the reference a behaviour difference is settled against.

A single combined-mode (broker + controller) KRaft node from the Kafka jars ``make java``
resolved, with Kafka's defaults except what one node needs (internal topics at replication
factor 1, no initial rebalance delay). Its storage is formatted with Kafka's own
``kafka-storage.sh format``; ``start`` waits for Kafka's own "Kafka Server started" line.
Tests that need brook's answer to equal Kafka's run the same client against both.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.brokers import free_port
from tests.support.java import JavaProcess, kafka_script

__all__ = ["KafkaBroker"]

_ONE_NODE = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
}


@dataclass
class KafkaBroker:
    """A real Kafka 4.x KRaft broker on free loopback ports; ``overrides`` win over defaults."""

    data_dir: Path
    overrides: Mapping[str, str] = field(default_factory=dict)
    heap: str = "512m"
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    node_id: int = 1
    _jvm: JavaProcess | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def properties_file(self) -> Path:
        return self.data_dir.parent / "server.properties"

    def _write_properties(self) -> None:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "controller.quorum.voters": f"{self.node_id}@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            **_ONE_NODE,
            **self.overrides,
        }
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def start(self, timeout: float = 120.0) -> None:
        """Format the storage on first start (Kafka refuses an unformatted log dir), then run."""
        self._write_properties()
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            self.format_storage(cluster_id)
        self._jvm = JavaProcess(
            "kafka.Kafka", (str(self.properties_file),), heap=self.heap, log_level="info"
        )
        self._jvm.start("Kafka Server started", timeout=timeout)

    def format_storage(self, cluster_id: str) -> None:
        """``kafka-storage.sh format``; the id is joined to its option because a random
        URL-safe base64 id may start with ``-``, which would otherwise read as an option."""
        self._write_properties()
        kafka_script("kafka-storage.sh", "format", f"--cluster-id={cluster_id}",
                     "-c", str(self.properties_file))

    def stop(self) -> int | None:
        return self._jvm.stop() if self._jvm is not None else None

    def kill(self) -> None:
        if self._jvm is not None:
            self._jvm.kill()

    def output(self) -> str:
        return self._jvm.output() if self._jvm is not None else ""
