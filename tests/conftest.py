"""Shared fixtures: real broker processes on free loopback ports (see ``tests.support.brokers``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tests.protocol_codec  # noqa: F401  (adds the client directions of the codec: tests act as clients)
from tests.support.brokers import BrokerProcess, free_port, plain_broker

__all__ = ["BrokerProcess", "free_port"]


@pytest.fixture(name="broker_factory")
def fixture_broker_factory(tmp_path: Path) -> Iterator[Callable[..., BrokerProcess]]:
    started: list[BrokerProcess] = []

    def make(**overrides: str) -> BrokerProcess:
        d = tmp_path / f"broker{len(started)}" / "data"
        d.mkdir(parents=True)
        b = plain_broker(d, overrides=dict(overrides))
        b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture(name="broker", scope="module")
def fixture_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """One broker shared by a test module (tests use their own topic names)."""
    d = tmp_path_factory.mktemp("broker") / "data"
    d.mkdir()
    b = plain_broker(d)
    b.start()
    yield b
    code = b.stop()
    assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"


@pytest.fixture(name="bootstrap", scope="module")
def fixture_bootstrap(broker: BrokerProcess) -> str:
    return broker.bootstrap
