"""A metadata-log fsync that fails stops the broker (non-zero exit) before any client is told
an outcome; after a restart the failed change is absent and earlier changes are intact."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic
from support.brokers import REPO, free_port
from support.ck import TIMEOUT, admin

pytestmark = pytest.mark.timeout(120)

WRAPPER = Path(__file__).resolve().parent / "support" / "failing_metadata_broker.py"
READY = "brook broker 1 ready"


class Broker:
    def __init__(self, data_dir: Path, trigger: Path) -> None:
        self.data_dir = data_dir
        self.trigger = trigger
        self.port = free_port()
        self.log_path = data_dir.parent / "broker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        seen = self.output().count(READY)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(WRAPPER), str(self.trigger), "--node-id", "1",
                 "--listeners", listener, "--advertised-listeners", listener,
                 "--data-dir", str(self.data_dir), "--log-level", "WARNING"],
                stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        deadline = time.monotonic() + 30
        while self.output().count(READY) <= seen:
            assert self.proc.poll() is None, self.output()[-2000:]
            assert time.monotonic() < deadline, self.output()[-2000:]
            time.sleep(0.05)

    def wait(self, timeout: float) -> int | None:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(20) is None:
                self.proc.kill()
                self.proc.wait(5)


def test_failed_metadata_fsync_halts_and_is_never_replayed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    trigger = tmp_path / "fail-metadata-fsync"
    broker = Broker(data, trigger)
    broker.start()
    try:
        a = admin(broker.bootstrap)
        a.create_topics([NewTopic("before", 1, 1)])["before"].result(TIMEOUT)
        trigger.touch()
        future = a.create_topics([NewTopic("lost", 1, 1)], request_timeout=10)["lost"]
        code = broker.wait(30)
        assert code is not None and code != 0, "the broker kept running after the failure"
        with pytest.raises(Exception):  # any failure, never a success
            future.result(15)
        assert "metadata log" in broker.output() and "CRITICAL" in broker.output()
        trigger.unlink()
        broker.start()
        topics = admin(broker.bootstrap).list_topics(timeout=TIMEOUT).topics
        assert "before" in topics and "lost" not in topics
    finally:
        broker.stop()
