"""bench's Apache Kafka peer: its configuration, its command line, and a real start of it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from bench import admin, kafka
from bench.procs import Broker, cpu_seconds, rss_kib
from bench.run import parse_args, settings_from


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_one_node_properties_and_overrides(tmp_path: Path) -> None:
    props = _props(kafka.server_properties(
        9092, 9093, tmp_path / "data", kafka.one_node_overrides(3000)))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["log.dirs"] == str(tmp_path / "data")
    # Internal topics must fit on one node; nothing else departs from Kafka's defaults.
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "3000"
    assert "log.flush.interval.messages" not in props
    assert "num.network.threads" not in props


def test_rebalance_delay_is_the_one_brook_runs_with() -> None:
    s = settings_from(parse_args(["--rebalance-delay-ms", "250"]))
    assert s.overrides("kafka")["group.initial.rebalance.delay.ms"] == "250"
    assert s.overrides("brook")["group.initial.rebalance.delay.ms"] == "250"
    assert s.overrides("peer") == {}


def test_server_command_is_kafka_server_start_defaults(tmp_path: Path) -> None:
    cmd = kafka.server_command(tmp_path / "server.properties", "a.jar:b.jar")
    assert cmd[0] == "java"
    assert "-Xmx1G" in cmd and "-Xms1G" in cmd
    assert "-XX:+UseG1GC" in cmd and "-XX:MaxGCPauseMillis=20" in cmd
    assert cmd[-3:] == ["a.jar:b.jar", "kafka.Kafka", str(tmp_path / "server.properties")]


def test_classpath_missing_or_empty_says_make_java(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="make java"):
        kafka.classpath(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(RuntimeError, match="make java"):
        kafka.classpath(tmp_path / "empty.txt")


def test_version_from_the_broker_jar() -> None:
    cp = "/m2/org/apache/kafka/kafka-clients/4.3.1/kafka-clients-4.3.1.jar:" \
         "/m2/org/apache/kafka/kafka_2.13/4.3.1/kafka_2.13-4.3.1.jar"
    assert kafka.version(cp) == "4.3.1"
    assert kafka.version("/x/y.jar") == "unknown"


def test_cluster_id_is_a_kafka_uuid_the_storage_tool_accepts() -> None:
    # One id in 64 starts with "-" if drawn freely, which StorageTool reads as an option.
    for _ in range(2000):
        cid = kafka.new_cluster_id()
        assert len(cid) == 22 and "=" not in cid and not cid.startswith("-")


def test_ready_line_found_across_partial_writes(tmp_path: Path) -> None:
    b = Broker("kafka", workdir=tmp_path)
    b.log_path.write_bytes(b"[old] INFO Kafka Server started\n")
    start = b.log_path.stat().st_size  # a restart looks past the previous run's line
    assert b._ready_line_seen(start) == (False, start)
    with open(b.log_path, "ab") as f:
        f.write(b"1 INFO starting\n2 INFO [KafkaRaftServer nodeId=1] Kafka Ser")
    seen, offset = b._ready_line_seen(start)
    assert not seen and offset == start + len(b"1 INFO starting\n")
    with open(b.log_path, "ab") as f:
        f.write(b"ver started\n")
    assert b._ready_line_seen(offset)[0]


def test_kafka_starts_serves_and_is_measured(tmp_path: Path) -> None:
    """A real start: formatted storage, the JVM is the measured process, clients work."""
    b = Broker("kafka", overrides=kafka.one_node_overrides(0), ready_timeout=120.0,
               workdir=tmp_path)
    try:
        took = b.start()
        assert 0 < took < 120
        assert (b.data_dir / "meta.properties").exists()
        cmdline = Path(f"/proc/{b.pid}/cmdline").read_bytes().split(b"\0")
        assert b"kafka.Kafka" in cmdline and b"-Xmx1G" in cmdline
        assert cpu_seconds(b.pid) > 0.5  # the JVM's own CPU, not a wrapper's
        assert rss_kib(b.pid) > 100 * 1024

        admin.create_topics(b.bootstrap, {"t": 1})
        p = Producer({"bootstrap.servers": b.bootstrap})
        p.produce("t", b"v" * 100)
        assert p.flush(30) == 0
        assert admin.end_offsets(b.bootstrap, "t", 1) == 1
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "g",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition("t", 0, 0)])
            deadline = time.monotonic() + 30
            msg = None
            while msg is None and time.monotonic() < deadline:
                msg = c.poll(1.0)
            assert msg is not None and msg.error() is None and msg.value() == b"v" * 100
        finally:
            c.close()
        assert (b.data_dir / "t-0" / "00000000000000000000.log").stat().st_size > 0
        assert b.stop(grace=30.0) is not None  # SIGTERM: Kafka's controlled shutdown
    finally:
        b.close()
    assert not tmp_path.exists()
