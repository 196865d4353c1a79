"""Listeners brook cannot secure (TLS, SASL) are refused at start-up, not served as plaintext."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.brokers import REPO, free_port

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("listener, extra", [
    ("SSL://127.0.0.1:{port}", []),
    ("SASL_PLAINTEXT://127.0.0.1:{port}", []),
    ("SASL_SSL://127.0.0.1:{port}", []),
    ("CLIENT://127.0.0.1:{port}", ["--override", "listener.security.protocol.map=CLIENT:SASL_SSL"]),
])
def test_unsecurable_listener_refused_with_clear_message(tmp_path: Path, listener: str,
                                                         extra: list[str]) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "brook", "broker", "--node-id", "1",
           "--listeners", listener.format(port=port), "--data-dir", str(tmp_path / "d"), *extra]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "is not supported by this broker" in done.stderr
    assert "refusing to serve it as unencrypted, unauthenticated plaintext" in done.stderr
    assert "ready" not in done.stdout
