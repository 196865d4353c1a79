"""Real broker processes for hostile-input tests: per-test settings and descriptor limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.brokers import BrokerProcess, plain_broker

MakeBroker = Callable[..., BrokerProcess]


@pytest.fixture(name="make_broker")
def fixture_make_broker(tmp_path: Path) -> Iterator[MakeBroker]:
    """Brokers at INFO (tests read their log), optionally under ``prlimit --nofile`` (which
    execs the broker: the pid stays the broker's)."""
    started: list[BrokerProcess] = []

    def make(nofile: int | None = None, **overrides: str) -> BrokerProcess:
        d = tmp_path / f"broker{len(started)}" / "data"
        d.mkdir(parents=True)
        prefix = () if nofile is None else ("prlimit", f"--nofile={nofile}:{nofile}")
        b = plain_broker(d, overrides=dict(overrides), log_level="INFO", prefix=prefix)
        b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        alive = b.alive()
        code = b.stop()
        assert alive, f"broker died during the test:\n{b.output()[-3000:]}"
        assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"
