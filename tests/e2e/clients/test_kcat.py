"""kcat 1.7 (Debian's, on librdkafka 2.0.x) against a live broker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any

import pytest

from tests.support.ck import Rec, consume, create_topic, produce, unique_topic

KCAT = shutil.which("kcat")
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(KCAT is None, reason="kcat is not installed (`make debs` installs it)"),
]

TIMEOUT = 30.0
BASE_TS = int(time.time() * 1000) - 3_600_000


def kcat(bootstrap: str, *args: str, stdin: bytes | None = None, check: bool = True
         ) -> subprocess.CompletedProcess[bytes]:
    assert KCAT is not None
    cmd = [KCAT, "-b", bootstrap, "-m", "15", *args]
    res = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT)
    if check:
        assert res.returncode == 0, f"{cmd} -> {res.returncode}: {res.stderr.decode()[-2000:]}"
    return res


def consume_json(bootstrap: str, topic: str, *args: str) -> list[dict[str, Any]]:
    out = kcat(bootstrap, "-C", "-t", topic, "-p", "0", "-e", "-J", "-Z", *args).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def test_version_is_the_old_librdkafka() -> None:
    assert KCAT is not None
    out = subprocess.run([KCAT, "-V"], capture_output=True, timeout=10).stdout.decode()
    assert "librdkafka" in out


def test_metadata_lists_broker_and_topics(bootstrap: str) -> None:
    topic = unique_topic("kcat-meta")
    create_topic(bootstrap, topic, partitions=2)
    md = json.loads(kcat(bootstrap, "-L", "-J").stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(1, bootstrap)]
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    for p in t["partitions"]:
        assert p["leader"] == 1
        assert [r["id"] for r in p["replicas"]] == [1] and [r["id"] for r in p["isrs"]] == [1]


def test_produce_auto_creates_topic_and_keys_headers_round_trip(bootstrap: str) -> None:
    topic = unique_topic("kcat-auto")
    lines = b"".join(b"key-%d:value-%d\n" % (i, i) for i in range(20))
    before = int(time.time() * 1000)
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-K:", "-H", "seq=one", "-H", "h2=two",
         stdin=lines)
    after = int(time.time() * 1000)
    got = consume_json(bootstrap, topic)
    assert [m["offset"] for m in got] == list(range(20))
    for i, m in enumerate(got):
        assert (m["topic"], m["partition"], m["key"], m["payload"]) == (
            topic, 0, f"key-{i}", f"value-{i}")
        assert m["headers"] == ["seq", "one", "h2", "two"]
        assert m["tstype"] == "create" and before - 1000 <= m["ts"] <= after + 1000


def test_explicit_timestamps_are_read_and_queried(bootstrap: str) -> None:
    topic = unique_topic("kcat-ts")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [Rec(key=b"k%d" % i, value=b"v%d" % i, timestamp=BASE_TS + i * 1000)
                               for i in range(10)])
    got = consume_json(bootstrap, topic)
    assert [(m["offset"], m["ts"], m["tstype"]) for m in got] == [
        (i, BASE_TS + i * 1000, "create") for i in range(10)]
    q = kcat(bootstrap, "-Q", "-t", f"{topic}:0:{BASE_TS + 2500}").stdout.decode()
    assert "offset 3" in q, q
    from_ts = consume_json(bootstrap, topic, "-o", f"s@{BASE_TS + 6000}")
    assert [m["offset"] for m in from_ts] == [6, 7, 8, 9]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_codec_round_trips(bootstrap: str, codec: str) -> None:
    topic = unique_topic(f"kcat-{codec}")
    create_topic(bootstrap, topic)
    values = [f"record {i} " * (1 + i % 20) for i in range(200)]
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-X", f"compression.codec={codec}",
         "-X", "linger.ms=50", stdin="".join(v + "\n" for v in values).encode())
    got = consume_json(bootstrap, topic)
    assert [(m["offset"], m["payload"]) for m in got] == list(enumerate(values))
    assert [m.value().decode() for m in consume(bootstrap, topic)] == values


def test_900_kib_record_round_trips(bootstrap: str) -> None:
    topic = unique_topic("kcat-large")
    create_topic(bootstrap, topic)
    big = os.urandom(450 * 1024).hex()
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-X", "message.max.bytes=1048588",
         stdin=big.encode() + b"\n")
    [m] = consume_json(bootstrap, topic, "-X", "fetch.message.max.bytes=1048588")
    assert (m["offset"], len(m["payload"]), m["payload"] == big) == (0, 900 * 1024, True)


def test_null_keys_and_tombstones_round_trip(bootstrap: str) -> None:
    topic = unique_topic("kcat-nulls")
    create_topic(bootstrap, topic)
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-Z", "-K:",
         stdin=b"k1:\n:no key\nk2:back\n")
    got = consume_json(bootstrap, topic)
    assert [(m["offset"], m["key"], m["payload"]) for m in got] == [
        (0, "k1", None), (1, None, "no key"), (2, "k2", "back")]


def test_offset_past_end_triggers_reset(bootstrap: str) -> None:
    topic = unique_topic("kcat-reset")
    create_topic(bootstrap, topic)
    produce(bootstrap, topic, [Rec(value=b"%d" % i) for i in range(5)])
    earliest = consume_json(bootstrap, topic, "-o", "100", "-X", "auto.offset.reset=earliest")
    assert [m["offset"] for m in earliest] == [0, 1, 2, 3, 4]
    latest = consume_json(bootstrap, topic, "-o", "100", "-X", "auto.offset.reset=latest")
    assert latest == []
    res = kcat(bootstrap, "-C", "-t", topic, "-p", "0", "-e", "-o", "100",
               "-X", "auto.offset.reset=error", check=False)
    err = res.stderr.decode()
    assert res.returncode != 0 and "out of range" in err.lower(), err
