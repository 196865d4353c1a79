"""The Java harness itself: Kafka's own tool reaches a real brook broker and lists what it made."""

from __future__ import annotations

from tests.support.brokers import BrokerProcess
from tests.support.java import kafka_script


def test_kafka_topics_creates_and_lists_a_topic_on_brook(broker: BrokerProcess) -> None:
    created = kafka_script(
        "kafka-topics.sh", "--bootstrap-server", broker.bootstrap,
        "--create", "--topic", "java-harness", "--partitions", "2", "--replication-factor", "1",
    )
    assert "Created topic java-harness." in created.stdout
    listed = kafka_script("kafka-topics.sh", "--bootstrap-server", broker.bootstrap, "--list")
    assert "java-harness" in listed.stdout.split()
