"""``brook up``, the embedded default: a broker and a connect worker on one machine, and the
tutorial's flow through them — topic, S3 sink connector from a .properties file, three
messages, three JSON lines under the local data directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.brokers import REPO, free_port

pytestmark = pytest.mark.timeout(120)

SINK = """name=s3-sink
connector.class=io.confluent.connect.s3.S3SinkConnector
tasks.max=1
topics=tutorial
s3.bucket.name=tutorial-bucket
s3.region=us-east-1
topics.dir=testchamsk
flush.size=3
format.class=io.confluent.connect.s3.format.json.JsonFormat
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
"""


def brook(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "brook", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, cwd=REPO)


def test_up_then_the_tutorial_flow(tmp_path: Path) -> None:
    port, rest = free_port(), free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "brook", "up", "--data-dir", str(data), "--port", str(port),
         "--connect-port", str(rest), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(3)]
        assert f"Bootstrap servers: 127.0.0.1:{port}" in banner[0], banner
        assert f"http://127.0.0.1:{rest}" in banner[2], banner
        bootstrap, url = f"127.0.0.1:{port}", f"http://127.0.0.1:{rest}"

        made = brook("topics", "--create", "--topic", "tutorial", "--partitions", "1",
                     "--replication-factor", "1", "--bootstrap-server", bootstrap)
        assert made.returncode == 0, made.stderr
        config = tmp_path / "s3-sink.properties"
        config.write_text(SINK)
        created = brook("connectors", "create", str(config), "--url", url)
        assert created.returncode == 0, created.stderr
        sent = brook("produce", "--bootstrap-server", bootstrap, "--topic", "tutorial",
                     stdin='{"n":1}\n{"n":2}\n{"n":3}\n')
        assert sent.returncode == 0, sent.stderr

        obj = (data / "s3" / "tutorial-bucket" / "testchamsk" / "tutorial" / "partition=0"
               / "tutorial+0+0000000000.json")
        deadline = time.monotonic() + 60
        while not obj.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert obj.read_text().splitlines() == ['{"n":1}', '{"n":2}', '{"n":3}']
        status = brook("connectors", "status", "s3-sink", "--url", url)
        assert status.returncode == 0 and '"RUNNING"' in status.stdout, status.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0
