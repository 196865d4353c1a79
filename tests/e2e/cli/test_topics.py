"""``brook topics`` against a live broker: the kafka-topics.sh flows of the tutorial."""

from __future__ import annotations

import re

import pytest

DESCRIBE_TOPIC = re.compile(
    r"^Topic: (\S+)\tTopicId: (\S*)\tPartitionCount: (\d+)\tReplicationFactor: (\d+)\tConfigs: (.*)$"
)
DESCRIBE_PARTITION = re.compile(
    r"^\tTopic: (\S+)\tPartition: (\d+)\tLeader: (\d+|none)\tReplicas: ([\d,]*)\tIsr: ([\d,]*)$"
)


def test_create_list_describe_delete(brook, bootstrap, topic):
    created = brook(
        "topics",
        "--create",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partitions",
        "3",
        "--replication-factor",
        "1",
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout == f"Created topic {topic}.\n"

    listed = brook("topics", "--list", "--bootstrap-server", bootstrap)
    assert listed.returncode == 0, listed.stderr
    assert topic in listed.stdout.splitlines()

    described = brook("topics", "--describe", "--bootstrap-server", bootstrap, "--topic", topic)
    assert described.returncode == 0, described.stderr
    lines = described.stdout.splitlines()
    head = DESCRIBE_TOPIC.match(lines[0])
    assert head, lines[0]
    assert head.group(1) == topic and head.group(3) == "3" and head.group(4) == "1"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", head.group(2)), head.group(2)
    partitions = [DESCRIBE_PARTITION.match(line) for line in lines[1:]]
    assert all(partitions), lines[1:]
    assert [m.group(2) for m in partitions if m] == ["0", "1", "2"]
    for m in partitions:
        assert m is not None and m.group(3) != "none" and m.group(4) == m.group(3)

    deleted = brook("topics", "--delete", "--bootstrap-server", bootstrap, "--topic", topic)
    assert deleted.returncode == 0, deleted.stderr
    listed = brook("topics", "--list", "--bootstrap-server", bootstrap)
    assert topic not in listed.stdout.splitlines()


def test_subcommand_spelling(brook, bootstrap, topic):
    created = brook("topics", "create", topic, "--bootstrap-server", bootstrap, "--partitions", "2")
    assert created.returncode == 0, created.stderr
    described = brook("topics", "describe", topic, "--bootstrap-server", bootstrap)
    assert described.returncode == 0, described.stderr
    assert "PartitionCount: 2" in described.stdout
    assert topic in brook("topics", "list", "--bootstrap-server", bootstrap).stdout.splitlines()
    assert brook("topics", "delete", topic, "--bootstrap-server", bootstrap).returncode == 0


def test_tutorial_create_with_command_config(brook, bootstrap, topic, tmp_path):
    (tmp_path / "client.properties").write_text("security.protocol=PLAINTEXT\n")
    created = brook(
        "topics",
        "--create",
        "--bootstrap-server",
        bootstrap,
        "--command-config",
        "client.properties",
        "--replication-factor",
        "1",
        "--partitions",
        "1",
        "--topic",
        topic,
    )
    assert created.returncode == 0, created.stderr
    assert created.stderr == ""


def test_duplicate_topic_is_an_error_unless_if_not_exists(brook, bootstrap, topic):
    assert (
        brook("topics", "--create", "--bootstrap-server", bootstrap, "--topic", topic).returncode
        == 0
    )
    again = brook("topics", "--create", "--bootstrap-server", bootstrap, "--topic", topic)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"brook topics: error: Topic '{topic}' already exists."
    ]
    quiet = brook(
        "topics", "--create", "--if-not-exists", "--bootstrap-server", bootstrap, "--topic", topic
    )
    assert quiet.returncode == 0, quiet.stderr


def test_describe_and_delete_unknown_topic(brook, bootstrap, topic):
    for action in ("--describe", "--delete", "--alter"):
        res = (
            brook(
                "topics",
                action,
                "--bootstrap-server",
                bootstrap,
                "--topic",
                topic,
                "--partitions",
                "4",
            )
            if action == "--alter"
            else brook("topics", action, "--bootstrap-server", bootstrap, "--topic", topic)
        )
        assert res.returncode == 1, (action, res)
        assert res.stderr.strip().splitlines() == [
            f"brook topics: error: Topic '{topic}' does not exist as expected"
        ]
    ok = brook(
        "topics", "--delete", "--if-exists", "--bootstrap-server", bootstrap, "--topic", topic
    )
    assert ok.returncode == 0, ok.stderr


def test_describe_by_pattern_and_exclude_internal(brook, bootstrap, topic):
    for suffix in ("a", "b"):
        assert (
            brook(
                "topics",
                "--create",
                "--bootstrap-server",
                bootstrap,
                "--topic",
                f"{topic}.{suffix}",
            ).returncode
            == 0
        )
    res = brook("topics", "--describe", "--bootstrap-server", bootstrap, "--topic", f"{topic}\\..*")
    assert res.returncode == 0, res.stderr
    heads = [line.split("\t")[0] for line in res.stdout.splitlines() if line.startswith("Topic:")]
    assert heads == [f"Topic: {topic}.a", f"Topic: {topic}.b"]
    listed = brook("topics", "--list", "--exclude-internal", "--bootstrap-server", bootstrap)
    assert not [n for n in listed.stdout.splitlines() if n.startswith("__")]


def test_alter_partitions(brook, bootstrap, topic, broker_lacks):
    if "CreatePartitions" in broker_lacks:
        pytest.skip("the broker under test does not implement CreatePartitions")
    assert (
        brook(
            "topics",
            "--create",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--partitions",
            "1",
        ).returncode
        == 0
    )
    altered = brook(
        "topics", "--alter", "--bootstrap-server", bootstrap, "--topic", topic, "--partitions", "3"
    )
    assert altered.returncode == 0, altered.stderr
    described = brook("topics", "--describe", "--bootstrap-server", bootstrap, "--topic", topic)
    assert "PartitionCount: 3" in described.stdout
    shrink = brook(
        "topics", "--alter", "--bootstrap-server", bootstrap, "--topic", topic, "--partitions", "2"
    )
    assert shrink.returncode == 1
    assert "can only be increased" in shrink.stderr


def test_create_with_config_and_alter_config(brook, bootstrap, topic, broker_lacks):
    if "DescribeConfigs" in broker_lacks:
        pytest.skip("the broker under test does not report topic configs (DescribeConfigs)")
    created = brook(
        "topics",
        "--create",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--config",
        "retention.ms=60000",
        "--config",
        "cleanup.policy=compact",
    )
    assert created.returncode == 0, created.stderr
    described = brook("topics", "--describe", "--bootstrap-server", bootstrap, "--topic", topic)
    assert "cleanup.policy=compact" in described.stdout
    assert "retention.ms=60000" in described.stdout
    altered = brook(
        "topics",
        "--alter",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--config",
        "retention.ms=1000",
        "--delete-config",
        "cleanup.policy",
    )
    assert altered.returncode == 0, altered.stderr
    described = brook("topics", "--describe", "--bootstrap-server", bootstrap, "--topic", topic)
    assert "retention.ms=1000" in described.stdout
    assert "cleanup.policy=compact" not in described.stdout
    overrides = brook(
        "topics",
        "--describe",
        "--topics-with-overrides",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
    )
    assert f"Topic: {topic}\t" in overrides.stdout
