"""Fixtures for the CLI end-to-end tests: a way to run ``brook`` as a real subprocess.

The broker comes from ``tests/conftest.py`` (``broker``/``bootstrap``, a real brook broker
process shared by a test module).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest


@pytest.fixture(name="broker_lacks", scope="module")
def fixture_broker_lacks() -> frozenset[str]:
    """Kafka APIs the broker behind ``bootstrap`` does not implement (none: it is brook's)."""
    return frozenset()


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[..., Result]


@pytest.fixture(name="brook")
def fixture_brook(tmp_path: Path) -> Runner:
    """Run ``python -m brook ARGS`` as a real subprocess, with stdin text and a time bound."""

    def run(*args: str, input: str | None = None, timeout: float = 60.0) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "brook", *args],
            input=(input or "").encode(),
            capture_output=True,
            timeout=timeout,
            cwd=tmp_path,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        return Result(
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )

    return run


@pytest.fixture(name="topic")
def fixture_topic(request: pytest.FixtureRequest) -> str:
    """A topic name unique to the test (the broker is shared by a module)."""
    import re
    import uuid

    name = re.sub(r"[^a-zA-Z0-9-]+", "-", request.node.name[:40])
    return f"cli-{name}-{uuid.uuid4().hex[:6]}"
