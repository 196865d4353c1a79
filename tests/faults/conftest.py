"""Fault tests drive real broker processes whose clock they can move (``brook.testing``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from brook.testing.process import BrokerProcess


@pytest.fixture(name="warp_broker")
def fixture_warp_broker(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    """``warp_broker(**overrides)`` starts a warp broker; every one is stopped at the end."""
    started: list[BrokerProcess] = []

    def make(**overrides: str) -> BrokerProcess:
        broker = BrokerProcess(tmp_path / f"broker{len(started)}" / "data", overrides=overrides)
        started.append(broker)
        broker.start()
        return broker

    yield make
    for broker in started:
        broker.stop()
