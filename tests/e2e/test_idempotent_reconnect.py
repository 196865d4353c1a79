"""An idempotent producer whose connections are cut mid-frame still writes each record once.

The broker advertises the proxy's port, so every connection the producer makes (bootstrap and
the leader) goes through the proxy. The proxy forwards half of a request or of a response and
then resets every connection: the broker sees torn requests, and the producer loses responses
to appends that happened, so it must retry them and the broker must deduplicate.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message, Producer

from tests.support.brokers import free_port, plain_broker
from tests.support.ck import consume, create_topic
from tests.support.proxy import DOWN, UP, TcpProxy

pytestmark = pytest.mark.timeout(120)

N = 20_000
CHUNK = 500
CUTS = {4: UP, 8: DOWN, 12: UP, 16: DOWN, 20: DOWN, 24: UP, 28: None, 32: DOWN}


def test_every_record_exactly_once_in_order(tmp_path: Path) -> None:
    upstream = free_port()
    data = tmp_path / "data"
    data.mkdir()
    with TcpProxy(upstream_port=upstream) as proxy:
        broker = plain_broker(data, port=upstream, advertised_port=proxy.port)
        broker.start()
        try:
            run_stream(proxy)
        finally:
            code = broker.stop()
        assert code == 0, broker.output()[-3000:]


def run_stream(proxy: TcpProxy) -> None:
    topic = "idempotent-stream"
    create_topic(proxy.address, topic)
    offsets: dict[int, int] = {}
    failed: list[tuple[int, KafkaError]] = []
    fatal: list[KafkaError] = []

    def on_error(err: KafkaError) -> None:
        if err.fatal():
            fatal.append(err)

    p = Producer({
        "bootstrap.servers": proxy.address,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "batch.num.messages": 100,
        "max.in.flight.requests.per.connection": 5,
        "message.timeout.ms": 60000,
        "retry.backoff.ms": 20,
        "reconnect.backoff.ms": 20,
        "reconnect.backoff.max.ms": 200,
        "error_cb": on_error,
    })
    connections_before = proxy.accepted

    def delivered(err: KafkaError | None, msg: Message) -> None:
        seq = int(msg.value())
        if err is None:
            offsets[seq] = msg.offset()
        else:
            failed.append((seq, err))

    deadline = time.monotonic() + 90
    for chunk in range(N // CHUNK):
        # Arm a cut before producing the chunk, so the chunk's own requests and responses are
        # there to be cut even if everything earlier has already been acknowledged.
        direction = CUTS.get(chunk)
        target = proxy.arm_cut(direction) if direction is not None else None
        for seq in range(chunk * CHUNK, (chunk + 1) * CHUNK):
            p.produce(topic, value=b"%08d" % seq, on_delivery=delivered)
        # Keep the stream flowing with about two chunks outstanding, so cuts land mid-stream.
        while len(offsets) + len(failed) < (chunk - 1) * CHUNK:
            p.poll(0.01)
            assert time.monotonic() < deadline, f"stalled at {len(offsets)} delivered"
        if chunk in CUTS and direction is None:
            proxy.cut_all()
        elif target is not None:
            while not proxy.wait_cut(target, 0.05):
                p.poll(0)
                assert time.monotonic() < deadline, f"no traffic {direction} to cut"
    remaining = p.flush(60)
    assert not fatal, f"fatal producer errors: {fatal}"
    assert remaining == 0 and not failed, f"{remaining} undelivered, failures: {failed[:5]}"
    assert proxy.cuts == len(CUTS)
    assert proxy.accepted > connections_before + 3, "the producer never had to reconnect"

    assert [offsets[seq] for seq in range(N)] == list(range(N)), "delivery offsets differ"
    got = consume(proxy.address, topic, timeout=60)
    values = [int(m.value()) for m in got]
    dupes = len(values) - len(set(values))
    missing = sorted(set(range(N)) - set(values))[:10]
    assert values == list(range(N)), f"{dupes} duplicates, missing e.g. {missing}"
    assert [m.offset() for m in got] == list(range(N))
