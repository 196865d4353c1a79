"""A brook Connect worker configured the way Kafka Connect is - JAAS PLAIN credentials in
``sasl.jaas.config`` - against a real Kafka broker whose SASL listener checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from tests.e2e.connect.conftest import fixture_worker_factory, wait_until
from tests.support.kafka_reference import KafkaBroker

__all__ = ["fixture_worker_factory"]  # the fixture this module uses

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
PASSWORD = 'se"cr; et'  # a quote (escaped in JAAS), a semicolon and a space


def sasl_kafka(tmp_path: Path) -> KafkaBroker:
    kafka = KafkaBroker(tmp_path / "kafka" / "data")
    kafka.data_dir.mkdir(parents=True)
    # In server.properties a backslash escapes: \\" reaches Kafka's JAAS parser as \".
    users = f'user_admin="admin-secret" user_alice="{PASSWORD.replace(chr(34), chr(92) * 2 + chr(34))}"'
    kafka.overrides = {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{kafka.port},"
                     f"CONTROLLER://127.0.0.1:{kafka.controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{kafka.port}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            f'{PLAIN} required username="admin" password="admin-secret" {users};',
    }
    kafka.start()
    return kafka


def test_worker_with_java_jaas_settings_runs_a_sink_on_a_sasl_kafka(
        tmp_path: Path, worker_factory: Any) -> None:
    kafka = sasl_kafka(tmp_path)
    worker = None
    try:
        jaas = f'{PLAIN} required username="alice" password="{PASSWORD.replace(chr(34), chr(92) + chr(34))}";'
        worker = worker_factory(kafka.bootstrap, **{
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.jaas.config": jaas,
            # Java-only settings that change nothing for librdkafka are accepted, as in Kafka.
            "consumer.metrics.num.samples": "2", "producer.ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
            "consumer.partition.assignment.strategy":
                "org.apache.kafka.clients.consumer.RangeAssignor,"
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
            "file.connectors.enable": "true", "file.connectors.allowed.dirs": str(tmp_path)})
        out = tmp_path / "out.txt"
        status, body = worker.request("PUT", "/connectors/sasl-sink/config", {
            "connector.class": "FileStreamSink", "file": str(out), "topics": "sasl-in",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
        assert status == 201, body
        producer = Producer({"bootstrap.servers": kafka.bootstrap,
                             "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                             "sasl.username": "alice", "sasl.password": PASSWORD})
        for i in range(3):
            producer.produce("sasl-in", value=f"line {i}".encode())
        assert producer.flush(60) == 0
        wait_until(lambda: out.exists() and out.read_text().splitlines() ==
                   ["line 0", "line 1", "line 2"], 90, "the lines in the sink file")

        # A connector's own credentials (consumer.override.sasl.jaas.config) are used by its
        # task: a wrong password fails the task with the broker's authentication error.
        status, body = worker.request("PUT", "/connectors/bad-sink/config", {
            "connector.class": "FileStreamSink", "file": str(tmp_path / "bad.txt"),
            "topics": "sasl-in", "consumer.override.sasl.jaas.config":
                f'{PLAIN} required username="alice" password="wrong";'})
        assert status == 201, body

        def failed() -> Any:
            _, st = worker.request("GET", "/connectors/bad-sink/status")
            tasks = st.get("tasks") or []
            return tasks and tasks[0]["state"] == "FAILED" and tasks[0]["trace"]
        trace = wait_until(failed, 90, "the task with the wrong password to fail")
        assert "Authentication failed: Invalid username or password" in trace, trace
    finally:
        if worker is not None:
            worker.stop()  # before the broker, so that its clients can leave their groups
        kafka.stop()
