"""Kafka's console producer and consumer and its perf tools against brook, next to Kafka.

The tutorial's producer line uses ``--broker-list``; Kafka 4.x's console producer no longer
knows that option (it was removed with ZooKeeper-era aliases), so the tool refuses it before
it connects to anything, against Kafka exactly as against brook: the test shows both refusals
and docs/java.md tells users to write ``--bootstrap-server``.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.kafka_scripts import ScriptPair, fixture_kafka, fixture_scripts

__all__ = ["fixture_kafka", "fixture_scripts"]

LINES = "".join(f"key{i}:value {i}\n" for i in range(12))


def _client_properties(tmp_path: Path) -> str:
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=PLAINTEXT\nacks=all\n")
    return str(path)


def test_broker_list_is_refused_alike_and_bootstrap_server_works(
    scripts: ScriptPair, tmp_path: Path
) -> None:
    client = _client_properties(tmp_path)
    b, k = scripts.both("kafka-console-producer.sh", "--broker-list", "{bs}",
                        "--producer.config", client, "--topic", "tutorial", input=LINES)
    assert b.returncode == k.returncode == 1
    assert b.stdout == k.stdout
    assert "broker-list is not a recognized option" in b.stdout + b.stderr
    scripts.same("kafka-topics.sh", "--bootstrap-server", "{bs}", "--create", "--topic",
                 "tutorial", "--partitions", "3")
    b, k = scripts.both("kafka-console-producer.sh", "--bootstrap-server", "{bs}",
                        "--producer.config", client, "--topic", "tutorial",
                        "--property", "parse.key=true", "--property", "key.separator=:",
                        input=LINES)
    assert b.returncode == k.returncode == 0, b.stderr + k.stderr
    assert b.stdout == k.stdout
    # Keys hash to partitions with Kafka's murmur2 in the client: the same offsets on both.
    scripts.same("kafka-get-offsets.sh", "--bootstrap-server", "{bs}", "--topic", "tutorial")

    b, k = scripts.both("kafka-console-consumer.sh", "--bootstrap-server", "{bs}",
                        "--consumer.config", client, "--topic", "tutorial", "--from-beginning",
                        "--group", "tutorial-readers", "--max-messages", "12",
                        "--property", "print.key=true", "--property", "print.partition=true")
    assert b.returncode == k.returncode == 0, b.stderr[-3000:] + k.stderr[-3000:]
    # Partitions are read in whatever order the fetches return; per partition, in order.
    assert sorted(b.stdout.splitlines()) == sorted(k.stdout.splitlines())
    rows = [line.split("\t") for line in b.stdout.splitlines() if line.startswith("Partition:")]
    assert sorted(r[1:] for r in rows) == sorted(
        [f"key{i}", f"value {i}"] for i in range(12))
    assert "Processed a total of 12 messages" in b.stderr and "Processed a total of 12" in k.stderr
    # The group committed what it read: nothing left for it, on either broker.
    out = scripts.same("kafka-consumer-groups.sh", "--bootstrap-server", "{bs}", "--describe",
                       "--group", "tutorial-readers")
    lags = [line.split()[5] for line in out.splitlines() if line.startswith("tutorial-readers")]
    assert lags == ["0", "0", "0"]


def test_perf_tools_finish_and_report(scripts: ScriptPair) -> None:
    produced = scripts.run("brook", "kafka-producer-perf-test.sh", "--bootstrap-server", "{bs}",
                           "--topic", "perf", "--num-records", "3000", "--record-size", "100",
                           "--throughput", "-1", "--command-property", "acks=all", timeout=120)
    assert produced.returncode == 0, produced.stderr[-3000:]
    assert re.search(r"^3000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg "
                     r"latency, [\d.]+ ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, "
                     r"\d+ ms 99\.9th\.$", produced.stdout, re.M), produced.stdout
    consumed = scripts.run("brook", "kafka-consumer-perf-test.sh", "--bootstrap-server", "{bs}",
                           "--topic", "perf", "--num-records", "3000", "--timeout", "60000",
                           timeout=120)
    assert consumed.returncode == 0, consumed.stderr[-3000:]
    header, row = consumed.stdout.strip().splitlines()[-2:]
    columns = dict(zip([c.strip() for c in header.split(",")],
                       [c.strip() for c in row.split(",")], strict=True))
    assert columns["data.consumed.in.nMsg"] == "3000"
    assert float(columns["data.consumed.in.MB"]) == round(3000 * 100 / 1024 / 1024, 4)
    # Idempotent by default: the producer that wrote them is listed by DescribeProducers.
    producers = scripts.run("brook", "kafka-transactions.sh", "--bootstrap-server", "{bs}",
                            "describe-producers", "--topic", "perf", "--partition", "0")
    assert producers.returncode == 0, producers.stderr[-3000:]
    head, *rows = producers.stdout.strip().splitlines()
    assert head.split() == ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch",
                            "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset"]
    assert len(rows) == 1
    assert rows[0].split()[1:4] == ["0", "-1", "2999"]
    assert rows[0].split()[5] == "None"
