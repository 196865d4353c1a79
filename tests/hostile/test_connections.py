"""Connection limits: per-IP and broker-wide caps, the idle timer (slow-loris included), and
descriptor exhaustion made unreachable through client connections."""

from __future__ import annotations

import socket
import time

import pytest

from brook.protocol.messages.api_versions import ApiVersionsRequest
from tests.hostile.conftest import MakeBroker
from tests.hostile.hostile_kit import (
    Bystander,
    call,
    closed_by_peer,
    connect,
    encode_request,
    open_many,
)

pytestmark = pytest.mark.timeout(180)

API_VERSIONS = ApiVersionsRequest(client_software_name="t", client_software_version="1")


def served(s: socket.socket) -> bool:
    try:
        resp = call(s, API_VERSIONS, 3, 7)
    except OSError:
        return False
    return resp is not None and resp.error_code == 0


def test_per_ip_limit_and_override(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"max.connections.per.ip": "100",
                            "max.connections.per.ip.overrides": "127.0.0.1:5"})
    kept = open_many(broker.port, 5)
    assert all(served(s) for s in kept)
    extra = connect(broker.port)
    t0 = time.monotonic()
    assert closed_by_peer(extra, 5), "the sixth connection from 127.0.0.1 stayed open"
    print(f"sixth connection closed {time.monotonic() - t0:.3f}s after connect")
    kept[0].close()
    time.sleep(0.3)
    again = connect(broker.port)
    assert served(again), "a slot freed by a close was not reusable"
    for s in [*kept[1:], extra, again]:
        s.close()
    assert "max.connections.per.ip=5" in broker.output()


def test_broker_wide_limit(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"max.connections": "8"})
    kept = open_many(broker.port, 8)
    assert all(served(s) for s in kept)
    over = open_many(broker.port, 4)
    assert all(closed_by_peer(s, 5) for s in over)
    assert all(served(s) for s in kept)
    for s in kept + over:
        s.close()


def test_idle_and_slow_loris_connections_closed(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"connections.max.idle.ms": "2000"})
    idle = connect(broker.port)
    loris = connect(broker.port)
    active = connect(broker.port)
    request = encode_request(API_VERSIONS, 3, 1)
    t0 = time.monotonic()
    loris_closed_at = idle_closed_at = None
    sent = 0
    rounds = 0
    while time.monotonic() - t0 < 6:
        assert served(active), "an active connection was closed"
        rounds += 1
        if loris_closed_at is None:
            try:
                loris.send(request[sent % len(request) : sent % len(request) + 1])
                sent += 1
            except OSError:
                loris_closed_at = time.monotonic() - t0
        for s, name in ((idle, "idle"), (loris, "loris")):
            s.settimeout(0.001)
            try:
                if s.recv(1) == b"":
                    raise ConnectionResetError
            except TimeoutError:
                pass
            except OSError:
                if name == "idle" and idle_closed_at is None:
                    idle_closed_at = time.monotonic() - t0
                if name == "loris" and loris_closed_at is None:
                    loris_closed_at = time.monotonic() - t0
        time.sleep(0.25)
    print(f"idle closed after {idle_closed_at}s, slow-loris ({sent} bytes sent one by one, "
          f"never a whole request) after {loris_closed_at}s; active served {rounds} times")
    assert idle_closed_at is not None and 1.9 <= idle_closed_at <= 4.5
    assert loris_closed_at is not None and 1.9 <= loris_closed_at <= 4.5
    assert sent < len(request)  # it never completed a request
    for s in (idle, loris, active):
        s.close()


def test_descriptor_exhaustion_unreachable(make_broker: MakeBroker) -> None:
    """Under a 512-descriptor limit, 600 client connections: the excess is closed right after
    accept, accept never fails with EMFILE, and a client is served once slots free up."""
    broker = make_broker(nofile=512)
    flood: list[socket.socket] = []
    for _ in range(600):
        try:
            flood.append(connect(broker.port, timeout=5))
        except OSError:
            break
    time.sleep(1.0)
    open_now = [s for s in flood if not closed_by_peer(s, 0.01)]
    print(f"{len(flood)} connections attempted under RLIMIT_NOFILE=512: {len(open_now)} kept")
    assert 100 <= len(open_now) <= 512 - 128
    assert broker.alive()
    for s in open_now[:20]:
        s.close()
    time.sleep(0.3)
    with Bystander(broker.port) as bystander:
        time.sleep(1.5)
    bystander.check(max_latency=2.0)
    for s in flood:
        s.close()
    out = broker.output()
    assert "Too many open files" not in out and "EMFILE" not in out, out[-2000:]
    assert "max.connections=" in out
