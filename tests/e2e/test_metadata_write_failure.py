"""A metadata-log fsync that fails stops the broker (non-zero exit) before any client is told
an outcome; after a restart the failed change is absent and earlier changes are intact."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import NewTopic

from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.ck import TIMEOUT, admin

pytestmark = pytest.mark.timeout(120)

WRAPPER = Path(__file__).resolve().parents[1] / "support" / "failing_metadata_broker.py"


def exit_code(broker: BrokerProcess, timeout: float) -> int | None:
    assert broker.proc is not None
    try:
        return broker.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def test_failed_metadata_fsync_halts_and_is_never_replayed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    trigger = tmp_path / "fail-metadata-fsync"
    broker = plain_broker(data, program=(sys.executable, str(WRAPPER), str(trigger)))
    broker.start()
    try:
        a = admin(broker.bootstrap)
        a.create_topics([NewTopic("before", 1, 1)])["before"].result(TIMEOUT)
        trigger.touch()
        future = a.create_topics([NewTopic("lost", 1, 1)], request_timeout=10)["lost"]
        code = exit_code(broker, 30)
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
