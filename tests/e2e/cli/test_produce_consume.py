"""``brook produce`` / ``brook consume`` against a live broker, as the tutorial uses them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def _create(brook, bootstrap, topic, partitions="1"):
    res = brook(
        "topics",
        "--create",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partitions",
        partitions,
        "--replication-factor",
        "1",
    )
    assert res.returncode == 0, res.stderr


def test_keyed_lines_round_trip(brook, bootstrap, topic):
    _create(brook, bootstrap, topic)
    produced = brook(
        "produce",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        input="k1:hello\nk2:world:with:colons\nk3:\n",
    )
    assert produced.returncode == 0, produced.stderr
    assert produced.stderr == ""
    consumed = brook(
        "consume",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--max-messages",
        "3",
        "--property",
        "print.key=true",
        timeout=60,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["k1\thello", "k2\tworld:with:colons", "k3\t"]
    assert consumed.stderr.strip().splitlines()[-1] == "Processed a total of 3 messages"


def test_tutorial_flow_with_group_from_beginning(brook, bootstrap, topic, tmp_path):
    """The tutorial's three commands, with client.properties and a subscribing consumer."""
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
    produced = brook(
        "produce",
        "--broker-list",
        bootstrap,
        "--producer.config",
        "client.properties",
        "--topic",
        topic,
        input="one\ntwo\nthree\n",
    )
    assert produced.returncode == 0, produced.stderr
    consumed = brook(
        "consume",
        "--bootstrap-server",
        bootstrap,
        "--consumer.config",
        "client.properties",
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "3",
        timeout=110,
    )
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == ["one", "two", "three"]
    assert "Processed a total of 3 messages" in consumed.stderr


def test_headers_null_marker_and_print_columns(brook, bootstrap, topic):
    _create(brook, bootstrap, topic)
    produced = brook(
        "produce",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "parse.headers=true",
        "--property",
        "null.marker=NULL",
        input="h1:a,h2:b\tkey1\tvalue1\nNULL\tNULL\tvalue2\n",
    )
    assert produced.returncode == 0, produced.stderr
    consumed = brook(
        "consume",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partition",
        "0",
        "--offset",
        "0",
        "--max-messages",
        "2",
        "--property",
        "print.key=true",
        "--property",
        "print.headers=true",
        "--property",
        "print.offset=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.timestamp=true",
    )
    assert consumed.returncode == 0, consumed.stderr
    first, second = consumed.stdout.splitlines()
    ts, part, off, headers, key, value = first.split("\t")
    assert ts.startswith("CreateTime:") and int(ts.split(":")[1]) > 0
    assert (part, off, headers, key, value) == (
        "Partition:0",
        "Offset:0",
        "h1:a,h2:b",
        "key1",
        "value1",
    )
    assert second.split("\t")[2:] == ["Offset:1", "NO_HEADERS", "null", "value2"]


def test_offset_and_max_messages_and_idle_timeout(brook, bootstrap, topic):
    _create(brook, bootstrap, topic)
    lines = "".join(f"m{i}\n" for i in range(5))
    assert (
        brook(
            "produce", "--bootstrap-server", bootstrap, "--topic", topic, "--sync", input=lines
        ).returncode
        == 0
    )
    start = time.monotonic()
    res = brook(
        "consume",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partition",
        "0",
        "--offset",
        "3",
        "--timeout-ms",
        "2000",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["m3", "m4"]
    assert "Processed a total of 2 messages" in res.stderr
    assert time.monotonic() - start < 30


def test_missing_key_separator_stops_with_error(brook, bootstrap, topic):
    _create(brook, bootstrap, topic)
    res = brook(
        "produce",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
        input="good:1\nno separator here\nlater:2\n",
    )
    assert res.returncode == 1
    assert "No key separator found on line number 2: 'no separator here'" in res.stderr
    assert "Traceback" not in res.stderr
    consumed = brook(
        "consume",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--partition",
        "0",
        "--offset",
        "earliest",
        "--timeout-ms",
        "2000",
    )
    assert consumed.stdout.splitlines() == ["1"]


def test_consumer_exits_cleanly_on_sigterm(brook, bootstrap, topic):
    _create(brook, bootstrap, topic)
    assert (
        brook(
            "produce", "--bootstrap-server", bootstrap, "--topic", topic, input="first\n"
        ).returncode
        == 0
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "brook",
            "consume",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--partition",
            "0",
            "--offset",
            "earliest",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"first\n"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "Processed a total of 1 messages" in err.decode()
    assert "Traceback" not in err.decode()
