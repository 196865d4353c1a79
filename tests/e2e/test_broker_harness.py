"""The test broker harness: ready is the broker's own line, a taken port is retried on a fresh
one, a kill -9 and a restart keep the port and the data, a split listener advertises the other
port."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from tests.support.brokers import free_port, plain_broker
from tests.support.ck import TIMEOUT, admin, create_topic


def test_first_start_on_a_taken_port_moves_to_a_fresh_one(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])
        broker = plain_broker(tmp_path / "data", port=taken)
        broker.start()
        try:
            assert broker.port != taken
            assert "address already in use" in broker.output().lower()
            assert admin(broker.bootstrap).list_topics(timeout=TIMEOUT).brokers
        finally:
            assert broker.stop() == 0, broker.output()[-3000:]


def test_kill_9_then_restart_keeps_port_and_topics(tmp_path: Path) -> None:
    broker = plain_broker(tmp_path / "data")
    broker.start()
    try:
        port = broker.port
        create_topic(broker.bootstrap, "kept")
        assert broker.stop(signal.SIGKILL) == -signal.SIGKILL
        broker.start()
        assert broker.port == port
        assert "kept" in admin(broker.bootstrap).list_topics(timeout=TIMEOUT).topics
    finally:
        assert broker.stop() == 0, broker.output()[-3000:]


def test_split_listener_advertises_the_other_port(tmp_path: Path) -> None:
    advertised = free_port()
    broker = plain_broker(tmp_path / "data", advertised_port=advertised)
    broker.start()
    try:
        metadata = admin(broker.bootstrap).list_topics(timeout=TIMEOUT)
        assert [(b.host, b.port) for b in metadata.brokers.values()] == [("127.0.0.1", advertised)]
    finally:
        assert broker.stop() == 0, broker.output()[-3000:]
