"""Connection admission, the idle timer and the request memory pool, at the lowest level:
``ConnectionLimits``/``MemoryPool`` directly, and a ``KafkaConnection`` over a fake transport."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from brook.broker.config import BrokerConfig, ConfigError
from brook.broker.connection import _EAGER_FRAME_BYTES, _FIRST_FRAME_BYTES, KafkaConnection
from brook.broker.connection_limits import (
    ConnectionLimits,
    MemoryPool,
    derived_max_connections,
)
from brook.broker.node import BrokerNode
from brook.env import SYSTEM_CLOCK
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.api_versions import ApiVersionsRequest
from brook.protocol.messages.metadata import MetadataRequest
from brook.testing.clock import VirtualClock
from tests.unit.broker.conftest import FakeTransport, Harness, decode_response, encode_request, feed


def _config(tmp_path: Path, **props: str) -> BrokerConfig:
    base = {"node.id": "1", "listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": str(tmp_path)}
    return BrokerConfig.from_props({**base, **props})


# -- admission -----------------------------------------------------------------------------
def test_per_ip_limit_and_override(tmp_path: Path) -> None:
    limits = ConnectionLimits(
        _config(tmp_path, **{"max.connections.per.ip": "2",
                             "max.connections.per.ip.overrides": "127.0.0.2:3,localhost:0"}),
        SYSTEM_CLOCK, nofile=10_000,
    )
    assert [limits.admit("10.0.0.1") for _ in range(2)] == [None, None]
    assert "max.connections.per.ip=2" in (limits.admit("10.0.0.1") or "")
    assert [limits.admit("127.0.0.2") is None for _ in range(4)] == [True, True, True, False]
    assert limits.admit("127.0.0.1") is not None  # localhost resolves to 127.0.0.1: override 0
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.1") is None
    assert limits.count == 5 and limits.refused == 3


def test_broker_wide_limit_and_descriptor_ceiling(tmp_path: Path) -> None:
    limits = ConnectionLimits(_config(tmp_path, **{"max.connections": "3"}), SYSTEM_CLOCK,
                              nofile=10_000)
    assert [limits.admit(f"10.0.0.{i}") is None for i in range(4)] == [True, True, True, False]
    # A configured limit the descriptors cannot carry is lowered to what they can.
    capped = ConnectionLimits(_config(tmp_path, **{"max.connections": "100000"}), SYSTEM_CLOCK,
                              nofile=1024)
    assert capped.max_connections == derived_max_connections(1024) < 1024
    assert derived_max_connections(256) >= 64
    derived = ConnectionLimits(_config(tmp_path), SYSTEM_CLOCK, nofile=20_000)
    assert derived.max_connections == 15_000


def test_bad_limit_values_are_refused_at_start(tmp_path: Path) -> None:
    for props in ({"max.connections": "0"}, {"connections.max.idle.ms": "-1"},
                  {"queued.max.request.bytes": "x"},
                  {"max.connections.per.ip.overrides": "127.0.0.1"}):
        with pytest.raises(ConfigError):
            _config(tmp_path, **props)


# -- memory pool ---------------------------------------------------------------------------
def test_pool_grants_what_fits_and_serves_waiters_in_order() -> None:
    pool = MemoryPool(100)
    assert pool.try_reserve(60) and not pool.try_reserve(50)
    woken: list[str] = []
    pool.wait(50, lambda: woken.append("big"))
    assert not pool.try_reserve(10)  # fits, but someone is waiting: queue behind
    pool.wait(10, lambda: woken.append("small"))
    pool.release(0)
    assert woken == []
    pool.release(20)  # 60 free: both fit, granted in order
    assert woken == ["big", "small"] and pool.available == 0
    pool.release(60)
    assert pool.try_reserve(60)


def test_pool_cancelled_waiter_lets_the_next_one_in() -> None:
    pool = MemoryPool(100)
    assert pool.try_reserve(60)
    woken: list[str] = []

    def gone() -> None:
        woken.append("gone")

    pool.wait(90, gone)
    pool.wait(30, lambda: woken.append("next"))
    pool.cancel_wait(gone)
    assert woken == ["next"] and pool.available == 10


@pytest.mark.parametrize("size", [90, 150])
def test_pool_waiter_is_not_starved_by_overlapping_smaller_requests(size: int) -> None:
    """Two connections keep reading frames of 60 and 40 bytes that overlap (each starts its
    next frame as soon as its last is released), so the pool is never empty and never has 90
    bytes free; a waiting request of 90 bytes, or larger than the whole pool, still gets its
    turn."""
    pool = MemoryPool(100)
    assert pool.try_reserve(60) and pool.try_reserve(40)
    granted: list[int] = []
    pool.wait(size, lambda: granted.append(size))
    for _ in range(100):
        for frame in (60, 40):
            pool.release(frame)
            if not granted and pool.try_reserve(frame):  # the stream's next frame
                continue
            # Refused: that stream now waits behind the large request.
        if granted:
            break
    assert granted == [size]


def test_pool_lets_one_oversized_request_through_when_empty() -> None:
    pool = MemoryPool(10)
    assert pool.try_reserve(25)  # larger than the pool, but nothing else is held
    assert not pool.try_reserve(1)
    pool.release(25)
    assert pool.available == 10


# -- connections ---------------------------------------------------------------------------
def _metadata(cid: int) -> bytes:
    return encode_request(MetadataRequest(topics=None), 12, cid)


def _api_versions(cid: int) -> bytes:
    """Answered synchronously: no request stays in progress between steps."""
    return encode_request(ApiVersionsRequest(client_software_name="t",
                                             client_software_version="1"), 3, cid)


def test_claimed_size_is_not_allocated_up_front(harness: Harness) -> None:
    """A header claiming the maximum request size costs what was sent, not what was claimed."""
    conn, _ = harness.connect()
    claimed = harness.node.config.socket_request_max_bytes - 1  # 1 MiB in the harness
    feed(conn, struct.pack(">i", claimed) + b"\x00\x03")
    assert conn._frame is not None
    assert len(conn._frame) <= _FIRST_FRAME_BYTES
    assert harness.node.connection_limits.pool.reserved == claimed
    conn.connection_lost(None)
    assert harness.node.connection_limits.pool.reserved == 0


def test_frame_buffer_grows_as_bytes_arrive(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    node = BrokerNode(_config(tmp_path, **{"socket.request.max.bytes": str(64 << 20)}))
    try:
        conn = KafkaConnection(node, "PLAINTEXT")
        tr = FakeTransport()
        conn.connection_made(tr)
        size = 3 * _EAGER_FRAME_BYTES
        feed(conn, struct.pack(">i", size) + b"\x00" * 100)
        # Claimed 48 MiB, sent 100 bytes: the buffer is the first step only.
        assert conn._frame is not None and len(conn._frame) == _FIRST_FRAME_BYTES
        feed(conn, b"\x00" * _FIRST_FRAME_BYTES, chunk=1 << 20)
        assert conn._frame is not None and len(conn._frame) == 2 * _FIRST_FRAME_BYTES
        feed(conn, b"\x00" * (4 * _FIRST_FRAME_BYTES), chunk=1 << 20)
        assert conn._frame is not None and len(conn._frame) == 8 * _FIRST_FRAME_BYTES
        # The rest: the frame completes (api key 0 v0 with zeros: refused and closed).
        feed(conn, b"\x00" * (size - 5 * _FIRST_FRAME_BYTES - 100), chunk=1 << 20)
        assert conn._frame is None and tr.closed
        conn.connection_lost(None)
        assert node.connection_limits.pool.reserved == 0
    finally:
        loop.close()


def test_frame_up_to_eager_size_gets_whole_buffer_after_first_step(tmp_path: Path) -> None:
    node = BrokerNode(_config(tmp_path, **{"socket.request.max.bytes": str(64 << 20)}))
    conn = KafkaConnection(node, "PLAINTEXT")
    conn.connection_made(FakeTransport())
    size = 4 * _FIRST_FRAME_BYTES + 4096  # a produce of four 1 MiB values
    feed(conn, struct.pack(">i", size) + b"\x00" * (_FIRST_FRAME_BYTES + 10), chunk=1 << 16)
    assert conn._frame is not None and len(conn._frame) == size
    conn.connection_lost(None)


def test_connection_muted_while_pool_is_exhausted(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    node = BrokerNode(_config(tmp_path, **{"queued.max.request.bytes": str(200_000),
                                           "socket.request.max.bytes": str(1 << 20)}))
    loop.run_until_complete(node.start())
    try:
        first, tr1 = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
        second, tr2 = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
        first.connection_made(tr1)
        second.connection_made(tr2)
        body = _metadata(1)[4:]
        padded = body + b"\x00" * (150_000 - len(body))  # trailing bytes are ignored
        feed(first, struct.pack(">i", len(padded)) + padded[:1000])
        feed(second, struct.pack(">i", len(padded)) + padded[:1000])
        assert not tr1.paused and tr2.paused  # 150 KB held; 150 KB more does not fit
        assert second._frame is None
        feed(first, padded[1000:], chunk=32768)  # first completes: its bytes come back
        loop.run_until_complete(asyncio.sleep(0.05))
        assert len(tr1.frames()) == 1
        assert not tr2.paused and second._frame is not None
        feed(second, padded[1000:], chunk=32768)
        loop.run_until_complete(asyncio.sleep(0.05))
        _, resp = decode_response(tr2.frames()[0], ApiKey.METADATA, 12)
        assert resp.brokers is not None
        assert node.connection_limits.pool.reserved == 0
    finally:
        loop.run_until_complete(node.stop())
        loop.close()


def test_over_limit_connection_closed_right_after_accept(tmp_path: Path) -> None:
    node = BrokerNode(_config(tmp_path, **{"max.connections.per.ip": "1"}))
    a, tra = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
    b, trb = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
    a.connection_made(tra)
    b.connection_made(trb)
    assert not tra.closed and trb.closed
    assert node.connections == {a}
    b.connection_lost(None)
    a.connection_lost(None)
    assert node.connection_limits.count == 0 and not node.connections


def test_idle_timer_counts_complete_requests_only(tmp_path: Path) -> None:
    clock = VirtualClock()
    loop = asyncio.new_event_loop()
    node = BrokerNode(_config(tmp_path, **{"connections.max.idle.ms": "1000"}), clock=clock)
    node.loop = loop  # set by start(); the idle check runs on it
    try:
        active, tra = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
        slow, trs = KafkaConnection(node, "PLAINTEXT"), FakeTransport()
        active.connection_made(tra)
        slow.connection_made(trs)
        request = _api_versions(1)
        for step in range(8):
            clock.advance(250)
            feed(active, _api_versions(step + 2))
            feed(slow, request[step : step + 1])  # a byte at a time: never a whole request
            node.connection_limits._check_idle()
        assert trs.closed and not tra.closed
        assert len(tra.frames()) == 8
        assert node.connection_limits.idle_closed >= 1
    finally:
        loop.close()
