"""kafka-topics.sh, verbatim, against brook and against Apache Kafka: the same answers.

The commands are the ones a tutorial walks through (create with ``--command-config``,
``--describe``, ``--list``, ``--alter --partitions``, ``--delete``) and the health reports
operators run (``--under-replicated-partitions``, ``--unavailable-partitions``,
``--topics-with-overrides``). ``--describe`` goes through DescribeTopicPartitions (API 75) in
Kafka 4.x tools, hence the ``Elr:``/``LastKnownElr:`` columns.

One intentional difference is normalised away: a Kafka 4.x cluster with eligible leader
replicas (KIP-966) stores a cluster-wide ``min.insync.replicas=1`` at bootstrap (ELR needs one
value for the whole cluster), which the tool lists among every topic's ``Configs:`` as a
non-default value. brook has no ELR and so no such cluster-level record: its topics show only
their own overrides.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.kafka_scripts import ScriptPair, fixture_kafka, fixture_scripts, normalise

__all__ = ["fixture_kafka", "fixture_scripts"]

TOPICS = "kafka-topics.sh"


def _without_cluster_min_isr(text: str) -> str:
    """Drop the ``min.insync.replicas=1`` Kafka's ELR bootstrap adds to every topic's Configs."""
    text = re.sub(r"Configs: min\.insync\.replicas=1,?", "Configs: ", text)
    return text


def _describe(scripts: ScriptPair, *args: str) -> tuple[str, str]:
    b, k = scripts.both(TOPICS, "--bootstrap-server", "{bs}", "--describe", *args)
    assert b.returncode == 0, b.stdout + b.stderr[-3000:]
    assert k.returncode == 0, k.stdout + k.stderr[-3000:]
    return normalise(b.stdout, scripts), _without_cluster_min_isr(normalise(k.stdout, scripts))


def test_tutorial_create_with_command_config_then_describe(
    scripts: ScriptPair, tmp_path: Path
) -> None:
    client = tmp_path / "client.properties"
    client.write_text("security.protocol=PLAINTEXT\n")
    # The tutorial's replication factor 2 on a one-broker cluster: both refuse it alike.
    b, k = scripts.both(TOPICS, "--create", "--bootstrap-server", "{bs}", "--command-config",
                        str(client), "--replication-factor", "2", "--partitions", "1",
                        "--topic", "MSKTutorialTopic")
    assert b.returncode == k.returncode == 1
    for r in (b, k):
        assert ("Error while executing topic command : Unable to replicate the partition 2 "
                "time(s): The target replication factor of 2 cannot be reached because only 1 "
                "broker(s) are registered") in r.stdout
        assert "InvalidReplicationFactorException" in r.stderr
    out = scripts.same(TOPICS, "--create", "--bootstrap-server", "{bs}", "--command-config",
                       str(client), "--replication-factor", "1", "--partitions", "3",
                       "--topic", "MSKTutorialTopic")
    assert out == "Created topic MSKTutorialTopic.\n"
    brook, kafka = _describe(scripts, "--topic", "MSKTutorialTopic",
                             "--command-config", str(client))
    assert brook == kafka
    lines = brook.splitlines()
    assert lines[0] == ("Topic: MSKTutorialTopic\tTopicId: ID\tPartitionCount: 3\t"
                        "ReplicationFactor: 1\tConfigs: ")
    assert lines[1] == ("\tTopic: MSKTutorialTopic\tPartition: 0\tLeader: 1\tReplicas: 1\t"
                        "Isr: 1\tElr: \tLastKnownElr: ")
    assert len(lines) == 4


def test_list_alter_partitions_and_delete(scripts: ScriptPair) -> None:
    for name in ("grow", "doomed"):
        scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--create", "--topic", name,
                     "--partitions", "1")
    listed = scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--list")
    assert {"grow", "doomed"} <= set(listed.split())
    assert scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--alter", "--topic", "grow",
                        "--partitions", "4") == ""
    brook, kafka = _describe(scripts, "--topic", "grow")
    assert brook == kafka
    assert "PartitionCount: 4" in brook and "Partition: 3\tLeader: 1" in brook
    # Shrinking is refused with the same message.
    b, k = scripts.both(TOPICS, "--bootstrap-server", "{bs}", "--alter", "--topic", "grow",
                        "--partitions", "2")
    assert b.returncode == k.returncode == 1
    assert b.stdout == k.stdout == (
        "Error while executing topic command : The topic grow currently has 4 partition(s); "
        "2 would not be an increase.\n")
    assert scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--delete", "--topic",
                        "doomed") == ""
    b, k = scripts.both(TOPICS, "--bootstrap-server", "{bs}", "--describe", "--topic", "doomed")
    assert b.returncode == k.returncode == 1
    assert b.stdout == k.stdout == (
        "Error while executing topic command : Topic 'doomed' does not exist as expected\n")


def test_health_reports_and_topics_with_overrides(scripts: ScriptPair) -> None:
    scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--create", "--topic", "tuned",
                 "--partitions", "2", "--config", "retention.ms=86400000",
                 "--config", "cleanup.policy=compact")
    # One healthy broker: nothing is under-replicated or unavailable, on either.
    for report in ("--under-replicated-partitions", "--unavailable-partitions",
                   "--under-min-isr-partitions"):
        brook, kafka = _describe(scripts, report)
        assert brook == kafka == ""
    brook, kafka = _describe(scripts, "--topics-with-overrides")
    # Kafka lists every topic here, each "overriding" the ELR cluster-wide min.insync.replicas
    # (see the module docstring); its order follows a hash map, so compare as sets.
    kafka_overrides = {line for line in kafka.splitlines() if not line.endswith("Configs: ")}
    assert set(brook.splitlines()) == kafka_overrides
    assert ("Topic: tuned\tTopicId: ID\tPartitionCount: 2\tReplicationFactor: 1\t"
            "Configs: cleanup.policy=compact,retention.ms=86400000\n") in brook
    brook, kafka = _describe(scripts, "--topic", "tuned")
    assert brook == kafka
    assert brook.count("\tTopic: tuned\tPartition: ") == 2


def test_describe_all_topics_pages_through_describe_topic_partitions(scripts: ScriptPair) -> None:
    """A page limit smaller than the topic makes the tool follow the cursor, page by page."""
    scripts.same(TOPICS, "--bootstrap-server", "{bs}", "--create", "--topic", "paged",
                 "--partitions", "5")
    brook, kafka = _describe(scripts, "--topic", "paged", "--partition-size-limit-per-response",
                             "2")
    assert brook == kafka
    assert [line.split("Partition: ")[1].split("\t")[0]
            for line in brook.splitlines()[1:]] == ["0", "1", "2", "3", "4"]


def test_the_reference_broker_formats_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path,
) -> None:
    """One random cluster id in 64 starts with "-"; Kafka's storage tool must not take it for
    an option (the reference broker would then fail to start, now and then)."""
    from tests.support.kafka_reference import KafkaBroker

    kafka = KafkaBroker(tmp_path / "data")
    kafka.data_dir.mkdir()
    kafka.format_storage("-mEVVbHpTmqaCT46GPU7uw")
    meta = (kafka.data_dir / "meta.properties").read_text()
    assert "cluster.id=-mEVVbHpTmqaCT46GPU7uw" in meta
