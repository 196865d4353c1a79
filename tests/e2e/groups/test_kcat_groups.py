"""kcat's balanced consumer (``-G``), librdkafka 2.0's group client."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.support.ck import Rec, create_topic, produce, unique_topic

KCAT = shutil.which("kcat")
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(KCAT is None, reason="kcat is not installed"),
]


def test_kcat_balanced_consumer_reads_all_and_commits(gbootstrap: str) -> None:
    assert KCAT is not None
    topic, group = unique_topic("kcat-g"), unique_topic("kcat-grp")
    create_topic(gbootstrap, topic, partitions=3)
    produce(gbootstrap, topic, [Rec(value=b"v%d" % i, partition=i % 3) for i in range(30)])
    res = subprocess.run(
        [KCAT, "-b", gbootstrap, "-G", group, "-X", "auto.offset.reset=earliest",
         "-e", "-q", "-f", "%p:%o:%s\\n", topic],
        capture_output=True, timeout=45,
    )
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    lines = [line for line in res.stdout.decode().splitlines() if line]
    assert sorted(lines) == sorted(f"{i % 3}:{i // 3}:v{i}" for i in range(30))
    c = Consumer({"bootstrap.servers": gbootstrap, "group.id": group})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert [tp.offset for tp in committed] == [10, 10, 10]
    finally:
        c.close()
