"""kafka-configs, kafka-get-offsets, kafka-delete-records, kafka-log-dirs,
kafka-leader-election and kafka-broker-api-versions against brook and Apache Kafka.

Intentional differences, normalised or stated where they show:

- brook's topic keys and defaults follow Kafka 3.9 (the line MSK runs), so ``--all`` lists
  three keys Kafka 4 dropped (``message.format.version``, ``message.downconversion.enable``,
  ``message.timestamp.difference.max.ms``) and ``message.timestamp.after.max.ms`` keeps 3.9's
  default (no limit) where Kafka 4 has one hour;
- Kafka 4 with eligible leader replicas stores a cluster-wide ``min.insync.replicas=1`` at
  bootstrap, shown as a dynamic default broker config; brook has no ELR and no such record;
- brook's broker configuration is static (``server.properties``): altering a broker's
  config is refused with a clear message where Kafka applies it dynamically.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.java import run_tool
from tests.support.kafka_scripts import ScriptPair, fixture_kafka, fixture_scripts, normalise

__all__ = ["fixture_kafka", "fixture_scripts"]

CONFIGS = "kafka-configs.sh"
KAFKA_4_DROPPED = ("message.format.version", "message.downconversion.enable",
                   "message.timestamp.difference.max.ms")
RECORDS = "".join(f"k{i}:record {i}\n" for i in range(30))


@pytest.fixture(name="events", scope="module")
def fixture_events(scripts: ScriptPair) -> ScriptPair:
    """``events`` (3 partitions, 30 keyed records) on both brokers."""
    scripts.same("kafka-topics.sh", "--bootstrap-server", "{bs}", "--create", "--topic",
                 "events", "--partitions", "3")
    b, k = scripts.both("kafka-console-producer.sh", "--bootstrap-server", "{bs}", "--topic",
                        "events", "--property", "parse.key=true", "--property",
                        "key.separator=:", input=RECORDS)
    assert b.returncode == k.returncode == 0, b.stderr + k.stderr
    return scripts


def _config_lines(text: str) -> dict[str, str]:
    return {line.strip().split("=", 1)[0]: line.strip()
            for line in text.splitlines() if line.startswith("  ")}


def test_topic_configs_alter_and_describe(events: ScriptPair) -> None:
    out = events.same(CONFIGS, "--bootstrap-server", "{bs}", "--alter", "--entity-type",
                      "topics", "--entity-name", "events", "--add-config",
                      "retention.ms=86400000,max.message.bytes=2000000,cleanup.policy=compact")
    assert out == "Completed updating config for topic events.\n"
    out = events.same(CONFIGS, "--bootstrap-server", "{bs}", "--describe", "--entity-type",
                      "topics", "--entity-name", "events")
    assert _config_lines(out) == {
        "cleanup.policy": "cleanup.policy=compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
                          "cleanup.policy=compact, DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "max.message.bytes": "max.message.bytes=2000000 sensitive=false synonyms={"
                             "DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, "
                             "DEFAULT_CONFIG:message.max.bytes=1048588}",
        "retention.ms": "retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
                        "retention.ms=86400000}",
    }
    events.same(CONFIGS, "--bootstrap-server", "{bs}", "--alter", "--entity-type", "topics",
                "--entity-name", "events", "--delete-config", "retention.ms,cleanup.policy")
    out = events.same(CONFIGS, "--bootstrap-server", "{bs}", "--describe", "--entity-type",
                      "topics", "--entity-name", "events")
    assert list(_config_lines(out)) == ["max.message.bytes"]
    b, k = events.both(CONFIGS, "--bootstrap-server", "{bs}", "--alter", "--entity-type",
                       "topics", "--entity-name", "events", "--add-config", "no.such.key=1")
    assert b.returncode == k.returncode == 1
    for r in (b, k):
        assert "InvalidConfigurationException" in r.stdout + r.stderr


@pytest.mark.slow
def test_describe_all_topic_configs(events: ScriptPair) -> None:
    b, k = events.both(CONFIGS, "--bootstrap-server", "{bs}", "--describe", "--entity-type",
                       "topics", "--entity-name", "events", "--all")
    assert b.returncode == k.returncode == 0
    brook, kafka = _config_lines(b.stdout), _config_lines(k.stdout)
    assert b.stdout.splitlines()[0] == k.stdout.splitlines()[0] == (
        "All configs for topic events are:")
    assert set(brook) - set(kafka) == set(KAFKA_4_DROPPED)
    assert set(kafka) <= set(brook)
    # 3.9's default for message.timestamp.after.max.ms; ELR's cluster-wide min.insync.replicas.
    kafka["message.timestamp.after.max.ms"] = kafka["message.timestamp.after.max.ms"].replace(
        "3600000", str(2**63 - 1))
    kafka["min.insync.replicas"] = kafka["min.insync.replicas"].replace(
        "DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1, ", "")
    assert {n: brook[n] for n in kafka} == kafka


@pytest.mark.slow
def test_broker_configs(events: ScriptPair) -> None:
    out = events.same(CONFIGS, "--bootstrap-server", "{bs}", "--describe", "--entity-type",
                      "brokers", "--entity-name", "1")
    assert out == "Dynamic configs for broker 1 are:\n"
    b, k = events.both(CONFIGS, "--bootstrap-server", "{bs}", "--describe", "--entity-type",
                       "brokers", "--entity-default")
    assert b.stdout == "Default configs for brokers in the cluster are:\n"
    assert k.stdout == b.stdout + (  # ELR's cluster-wide value (module docstring)
        "  min.insync.replicas=1 sensitive=false "
        "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:min.insync.replicas=1}\n")
    b = events.run("brook", CONFIGS, "--bootstrap-server", "{bs}", "--describe",
                   "--entity-type", "brokers", "--entity-name", "1", "--all")
    assert b.returncode == 0
    rows = _config_lines(b.stdout)
    assert rows["log.dirs"].startswith(f"log.dirs={events.brook.data_dir}")
    assert "STATIC_BROKER_CONFIG:log.dirs=" in rows["log.dirs"]
    b = events.run("brook", CONFIGS, "--bootstrap-server", "{bs}", "--alter", "--entity-type",
                   "brokers", "--entity-name", "1", "--add-config", "log.cleaner.threads=2")
    assert b.returncode == 1
    assert ("InvalidRequestException: Dynamic broker configuration is not supported; set it "
            "in server.properties.") in b.stdout + b.stderr


@pytest.mark.parametrize("time", ["-1", "-2", "0", "earliest"])
def test_get_offsets(events: ScriptPair, time: str) -> None:
    out = events.same("kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic", "events",
                      "--time", time)
    assert re.fullmatch(r"(events:\d:\d+\n){3}", out), out


@pytest.mark.slow
def test_get_offsets_of_the_max_timestamp(events: ScriptPair) -> None:
    """The records' timestamps are the producer's clock, so the two brokers' answers differ;
    brook's is checked against its own records: the first offset with the largest timestamp."""
    read = events.run("brook", "kafka-console-consumer.sh", "--bootstrap-server", "{bs}",
                      "--topic", "events", "--from-beginning", "--max-messages", "30",
                      "--property", "print.timestamp=true", "--property", "print.offset=true",
                      "--property", "print.partition=true", "--property", "print.value=false")
    assert read.returncode == 0, read.stderr[-2000:]
    best: dict[int, tuple[int, int]] = {}
    for ts, partition, offset in re.findall(
            r"CreateTime:(\d+)\s+Partition:(\d+)\s+Offset:(\d+)", read.stdout):
        p, key = int(partition), (int(ts), -int(offset))
        best[p] = max(best.get(p, key), key)
    expected = "".join(f"events:{p}:{-best[p][1]}\n" for p in sorted(best))
    got = events.run("brook", "kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic",
                     "events", "--time", "-3")
    assert (got.returncode, got.stdout) == (0, expected)
    k = events.run("kafka", "kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic",
                   "events", "--time", "max-timestamp")
    assert re.fullmatch(r"(events:\d:\d+\n){3}", k.stdout), k.stdout


def test_delete_records_then_get_offsets(events: ScriptPair, tmp_path: Path) -> None:
    plan = tmp_path / "delete.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": "events", "partition": 0, "offset": 2},
        {"topic": "events", "partition": 1, "offset": -1}]}))
    b, k = events.both("kafka-delete-records.sh", "--bootstrap-server", "{bs}",
                       "--offset-json-file", str(plan))
    assert b.returncode == k.returncode == 0, b.stderr[-2000:]
    out = b.stdout
    # One line per partition, in the order of a hash map: compare as sets.
    assert sorted(out.splitlines()) == sorted(k.stdout.splitlines())
    assert out.startswith("Executing records delete operation\n"
                          "Records delete operation completed:\n")
    assert "partition: events-0\tlow_watermark: 2" in out
    earliest = events.same("kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic",
                           "events", "--time", "-2")
    latest = events.same("kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic",
                         "events", "--time", "-1")
    assert earliest.splitlines()[0] == "events:0:2"
    assert earliest.splitlines()[1] == latest.splitlines()[1]
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": "events", "partition": 2, "offset": 10_000}]}))
    b, k = events.both("kafka-delete-records.sh", "--bootstrap-server", "{bs}",
                       "--offset-json-file", str(plan))
    assert normalise(b.stdout) == normalise(k.stdout)
    assert "OffsetOutOfRangeException" in b.stdout


@pytest.mark.slow
def test_log_dirs_describe(events: ScriptPair) -> None:
    b, k = events.both("kafka-log-dirs.sh", "--bootstrap-server", "{bs}", "--describe",
                       "--topic-list", "events")
    assert b.returncode == k.returncode == 0, b.stderr[-2000:]
    head_b, body_b = b.stdout.strip().rsplit("\n", 1)
    head_k, body_k = k.stdout.strip().rsplit("\n", 1)
    assert head_b == head_k == ("Querying brokers for log directories information\n"
                                "Received log directory information from brokers 1")
    brook, kafka = json.loads(body_b), json.loads(body_k)
    (dir_b,) = brook["brokers"][0]["logDirs"]
    (dir_k,) = kafka["brokers"][0]["logDirs"]
    assert dir_b["logDir"] == str(events.brook.data_dir.resolve())
    assert dir_b["error"] is None
    for d in (dir_b, dir_k):  # paths and byte sizes legitimately differ
        d["logDir"] = "DIR"
        for p in d["partitions"]:
            assert p["size"] >= 0
            p["size"] = "SIZE"
        d["partitions"].sort(key=lambda p: p["partition"])
    assert brook == kafka
    assert [p["partition"] for p in dir_b["partitions"]] == [
        "events-0", "events-1", "events-2"]


@pytest.mark.slow
def test_leader_election_answers_election_not_needed(events: ScriptPair) -> None:
    out = events.same("kafka-leader-election.sh", "--bootstrap-server", "{bs}",
                      "--election-type", "preferred", "--topic", "events", "--partition", "1")
    assert out == "Valid replica already elected for partitions events-1\n"
    out = events.same("kafka-leader-election.sh", "--bootstrap-server", "{bs}",
                      "--election-type", "unclean", "--all-topic-partitions")
    assert out == ""
    b, k = events.both("kafka-leader-election.sh", "--bootstrap-server", "{bs}",
                       "--election-type", "preferred", "--topic", "nosuch", "--partition", "0")
    assert b.returncode == k.returncode == 1
    assert b.stdout.splitlines()[0] == k.stdout.splitlines()[0] == (
        "Error completing leader election (PREFERRED) for partition: nosuch-0: "
        "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such topic as nosuch")


@pytest.mark.slow
def test_broker_api_versions_lists_what_brook_serves(events: ScriptPair) -> None:
    r = events.run("brook", "kafka-broker-api-versions.sh", "--bootstrap-server", "{bs}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(f"{events.brook.bootstrap} (id: 1 rack: null isFenced: false) -> (")
    apis = dict(re.findall(r"^\t(\w+)\(\d+\): (.*?),?$", r.stdout, re.M))
    for name in ("DescribeTopicPartitions", "DescribeProducers", "DescribeLogDirs",
                 "ElectLeaders", "Produce", "Fetch", "Metadata"):
        assert "[usable:" in apis[name], (name, apis[name])
    assert apis["SaslHandshake"] == "UNSUPPORTED"


@pytest.mark.parametrize(("main", "args", "api"), [
    ("org.apache.kafka.tools.AclCommand", ("--list",), "DESCRIBE_ACLS"),
    # The same failure through other tools: with the slow tests, to keep `make test` short.
    pytest.param("org.apache.kafka.tools.TransactionsCommand", ("list",), "LIST_TRANSACTIONS",
                 marks=pytest.mark.slow),
    pytest.param("org.apache.kafka.tools.MetadataQuorumCommand", ("describe", "--status"),
                 "DESCRIBE_QUORUM", marks=pytest.mark.slow),
    pytest.param("kafka.admin.ConfigCommand", ("--describe", "--entity-type", "clients"),
                 "DESCRIBE_CLIENT_QUOTAS", marks=pytest.mark.slow),
])
def test_tools_for_apis_brook_lacks_fail_clearly(
    events: ScriptPair, main: str, args: tuple[str, ...], api: str
) -> None:
    """kafka-acls, kafka-transactions list, kafka-metadata-quorum, client quotas: the error
    Kafka's tools print for a broker without the API, at once (no retry loop, no hang)."""
    r = run_tool(main, "--bootstrap-server", events.brook.bootstrap, *args, check=False,
                 timeout=60)
    assert r.returncode == 1
    assert f"The node does not support {api}" in r.stdout + r.stderr
