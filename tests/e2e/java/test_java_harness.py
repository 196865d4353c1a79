"""The Java harness itself: Kafka's own tool reaches a real brook broker, and a real Kafka."""

from __future__ import annotations

from pathlib import Path

from tests.support.brokers import BrokerProcess
from tests.support.java import kafka_script
from tests.support.kafka_reference import KafkaBroker


def test_kafka_topics_creates_and_lists_a_topic_on_brook(broker: BrokerProcess) -> None:
    created = kafka_script(
        "kafka-topics.sh", "--bootstrap-server", broker.bootstrap,
        "--create", "--topic", "java-harness", "--partitions", "2", "--replication-factor", "1",
    )
    assert "Created topic java-harness." in created.stdout
    listed = kafka_script("kafka-topics.sh", "--bootstrap-server", broker.bootstrap, "--list")
    assert "java-harness" in listed.stdout.split()


def test_the_reference_kafka_broker_answers_the_same_tool(tmp_path: Path) -> None:
    kafka = KafkaBroker(tmp_path / "kafka" / "data")
    kafka.data_dir.mkdir(parents=True)
    kafka.start()
    try:
        created = kafka_script(
            "kafka-topics.sh", "--bootstrap-server", kafka.bootstrap,
            "--create", "--topic", "java-harness", "--partitions", "2", "--replication-factor", "1",
        )
        assert "Created topic java-harness." in created.stdout
    finally:
        assert kafka.stop() in (0, 143)
