"""User mistakes end in one line on stderr and a non-zero exit, quickly, without tracebacks."""

from __future__ import annotations

import socket
import time

import pytest


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("topics", "--list"),
        ("topics", "--create", "--topic", "x"),
        ("produce", "--topic", "x"),
        ("consume", "--topic", "x"),
    ],
)
def test_unreachable_broker_fails_fast(brook, args):
    dead = _dead_address()
    start = time.monotonic()
    res = brook(*args, "--bootstrap-server", dead, timeout=40)
    elapsed = time.monotonic() - start
    assert res.returncode == 1
    line = _one_line(res.stderr)
    assert line.startswith(f"brook {args[0]}: error: cannot reach a broker at {dead}"), line
    assert elapsed < 20


def test_missing_topic_flag(brook, bootstrap):
    for sub in ("produce", "consume"):
        res = brook(sub, "--bootstrap-server", bootstrap)
        assert res.returncode == 2
        line = _one_line(res.stderr)
        assert line.startswith(f"brook {sub}: error:") and "--topic" in line
    res = brook("topics", "--create", "--bootstrap-server", bootstrap)
    assert res.returncode == 2
    assert "--topic is required" in _one_line(res.stderr)


def test_unknown_topic(brook, bootstrap, topic):
    for sub in ("consume",):
        res = brook(sub, "--bootstrap-server", bootstrap, "--topic", topic, "--timeout-ms", "1000")
        assert res.returncode == 1
        assert _one_line(res.stderr) == (
            f"brook {sub}: error: Topic '{topic}' does not exist "
            "(create it with 'brook topics --create')"
        )


def test_bad_flags_and_properties(brook, bootstrap, tmp_path):
    res = brook("topics", "--list", "--bootstrap-server", bootstrap, "--no-such-flag")
    assert res.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in _one_line(res.stderr)

    res = brook(
        "topics",
        "--list",
        "--bootstrap-server",
        bootstrap,
        "--command-config",
        "missing.properties",
    )
    assert res.returncode == 1
    assert "properties file 'missing.properties' does not exist" in _one_line(res.stderr)

    bad = tmp_path / "bad.properties"
    bad.write_text("security.protocol=CARRIER_PIGEON\n")
    res = brook("topics", "--list", "--bootstrap-server", bootstrap, "--command-config", str(bad))
    assert res.returncode == 1
    assert "security.protocol" in _one_line(res.stderr)

    res = brook("consume", "--bootstrap-server", bootstrap, "--topic", "t", "--offset", "5")
    assert res.returncode == 2
    assert "partition is required" in _one_line(res.stderr)


def test_java_only_properties_are_dropped_with_warnings(brook, bootstrap, tmp_path):
    props = tmp_path / "client.properties"
    props.write_text(
        "security.protocol=PLAINTEXT\n"
        "interceptor.classes=com.example.Interceptor\n"
        "some.java.only.setting=1\n"
        "key.serializer=org.apache.kafka.common.serialization.StringSerializer\n"
    )
    res = brook("topics", "--list", "--bootstrap-server", bootstrap, "--command-config", str(props))
    assert res.returncode == 0, res.stderr
    warnings = res.stderr.splitlines()
    assert any("interceptor.classes" in w for w in warnings)
    assert any(
        "'some.java.only.setting' is not a librdkafka client property" in w for w in warnings
    )
    assert not any("key.serializer" in w for w in warnings)


def test_unknown_command_and_help(brook):
    res = brook("frobnicate")
    assert res.returncode == 2
    assert "unknown command 'frobnicate'" in _one_line(res.stderr)
    res = brook("--help")
    assert res.returncode == 0
    assert "topics" in res.stdout and "consume" in res.stdout
    for sub in ("topics", "produce", "consume"):
        res = brook(sub, "--help")
        assert res.returncode == 0 and "--bootstrap-server" in res.stdout
