"""Malformed, truncated and oversized frames over raw sockets never hurt other connections.

Each example opens its own connection. A complete frame must be answered (a response carrying
its correlation id) or the connection closed; an incomplete one must be closed once the client
half-closes; an impossible size prefix must be closed at once. Meanwhile one long-lived raw
connection and one real client keep getting answers.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import wire
from tests.support.ck import TIMEOUT, admin

pytestmark = pytest.mark.timeout(120)

WAIT = 5.0
FUZZ = settings(max_examples=40, derandomize=True, database=None, deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.too_slow])


class Healthy:
    """A long-lived raw connection and a real client that must keep working throughout."""

    def __init__(self, broker: Any, port: int, bootstrap: str) -> None:
        self.broker = broker
        self.port = port
        self.client: AdminClient = admin(bootstrap)
        self.sock = wire.connect(port)
        self.corr = 0
        self.examples = 0
        self.supported: dict[int, tuple[int, int]] = {}

    def check(self) -> None:
        self.examples += 1
        assert self.broker.proc is not None and self.broker.proc.poll() is None, "broker died"
        self.corr += 1
        self.sock.sendall(wire.api_versions_v0(self.corr))
        resp = wire.read_frame(self.sock, WAIT * 2)
        assert resp is not None, "healthy raw connection was closed"
        corr, err, keys = wire.parse_api_versions_v0(resp)
        assert (corr, err) == (self.corr, 0) and wire.API_VERSIONS in keys
        self.supported = keys
        if self.examples % 20 == 1:
            self.check_client()

    def check_client(self) -> None:
        md = self.client.list_topics(timeout=TIMEOUT)
        assert list(md.brokers) == [1]


@pytest.fixture(name="healthy", scope="module")
def fixture_healthy(broker: Any, bootstrap: str) -> Iterator[Healthy]:
    h = Healthy(broker, broker.port, bootstrap)
    h.check()
    yield h
    h.check()
    h.check_client()
    h.sock.close()


@contextlib.contextmanager
def conn(port: int) -> Iterator[socket.socket]:
    s = wire.connect(port)
    try:
        yield s
    finally:
        s.close()


def half_close_then_eof(port: int, data: bytes) -> bytes:
    """Send ``data``, half-close, and return what came back before the broker closed."""
    with conn(port) as s:
        with contextlib.suppress(ConnectionError):
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        return wire.read_to_eof(s, WAIT)


def answered_or_closed(port: int, data: bytes, correlation_id: int | None) -> bytes | None:
    """Send one complete frame: the broker must answer it or close, without any prompting."""
    with conn(port) as s:
        try:
            s.sendall(data)
        except ConnectionError:
            return None
        try:
            resp = wire.read_frame(s, WAIT)
        except TimeoutError:
            pytest.fail(f"broker neither answered nor closed after {data[:64]!r}")
        if resp is not None and correlation_id is not None:
            assert struct.unpack_from(">i", resp, 4)[0] == correlation_id
        return resp


def check_framing(data: bytes) -> None:
    """Bytes returned to a garbage sender must still be whole, well-formed frames."""
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 8, data[pos:]
        (size,) = struct.unpack_from(">i", data, pos)
        assert 4 <= size <= len(data) - pos - 4, (size, len(data) - pos)
        pos += 4 + size


@FUZZ
@given(data=st.binary(min_size=1, max_size=400))
def test_random_bytes(healthy: Healthy, data: bytes) -> None:
    check_framing(half_close_then_eof(healthy.port, data))
    healthy.check()


@FUZZ
@given(body=st.binary(max_size=400))
def test_valid_size_prefix_with_garbage(healthy: Healthy, body: bytes) -> None:
    corr = struct.unpack_from(">i", body, 4)[0] if len(body) >= 8 else None
    answered_or_closed(healthy.port, wire.frame(body), corr)
    healthy.check()


@FUZZ
@given(which=st.sampled_from(wire.VALID_BODIES), cut=st.floats(0.0, 0.999),
       honest_size=st.booleans(), corr=st.integers(0, 2**31 - 1))
def test_valid_header_with_truncated_body(healthy: Healthy, which: tuple[str, int, int, bool, bytes],
                                          cut: float, honest_size: bool, corr: int) -> None:
    _, api_key, version, flexible, body = which
    payload = wire.header(api_key, version, corr, flexible=flexible) + body[: int(len(body) * cut)]
    if honest_size:
        answered_or_closed(healthy.port, wire.frame(payload), corr)
    else:
        full = len(payload) + len(body) - int(len(body) * cut)
        check_framing(half_close_then_eof(healthy.port, wire.frame(payload, full)))
    healthy.check()


# Requests that are answered at once whatever their field values: no acks=0 produce, no
# long-poll fetch, no CreateTopics (a mutated partition count is valid, just enormous).
MUTABLE = [b for b in wire.VALID_BODIES if b[0].startswith(("metadata", "list"))]


@FUZZ
@given(which=st.sampled_from(MUTABLE), corr=st.integers(0, 2**31 - 1),
       edits=st.lists(st.tuples(st.floats(0.0, 0.999), st.integers(0, 255)), min_size=1,
                      max_size=4))
def test_valid_header_with_mutated_body(healthy: Healthy, which: tuple[str, int, int, bool, bytes],
                                        corr: int, edits: list[tuple[float, int]]) -> None:
    _, api_key, version, flexible, body = which
    mutated = bytearray(body)
    for where, byte in edits:
        mutated[int(len(body) * where)] = byte
    req = wire.frame(wire.header(api_key, version, corr, flexible=flexible) + bytes(mutated))
    answered_or_closed(healthy.port, req, corr)
    healthy.check()


@settings(FUZZ, max_examples=15)
@given(size=st.integers(100 * 1024 * 1024 + 1, 2**31 - 1) | st.integers(-(2**31), -1),
       tail=st.binary(max_size=64))
def test_impossible_size_prefix_closes_at_once(healthy: Healthy, size: int, tail: bytes) -> None:
    with conn(healthy.port) as s:
        with contextlib.suppress(ConnectionError):
            s.sendall(struct.pack(">i", size) + tail)
        assert wire.read_to_eof(s, WAIT) == b""
    healthy.check()


@FUZZ
@given(api_key=st.integers(-(2**15), 2**15 - 1).filter(lambda k: k != wire.API_VERSIONS),
       version=st.integers(-(2**15), 2**15 - 1), corr=st.integers(0, 2**31 - 1),
       body=st.binary(max_size=64))
def test_unknown_api_key_or_version(healthy: Healthy, api_key: int, version: int, corr: int,
                                    body: bytes) -> None:
    lo, hi = healthy.supported.get(api_key, (0, -1))
    if lo <= version <= hi:
        version = hi + 1
    answered_or_closed(healthy.port, wire.request(api_key, version, corr, body), corr)
    healthy.check()


@settings(FUZZ, max_examples=25)
@given(bump=st.integers(1, 2**15), corr=st.integers(0, 2**31 - 1),
       flexible=st.booleans(), body=st.binary(max_size=64))
def test_api_versions_too_new(healthy: Healthy, bump: int, corr: int, flexible: bool,
                              body: bytes) -> None:
    _, hi = healthy.supported[wire.API_VERSIONS]
    version = min(hi + bump, 2**15 - 1)
    with conn(healthy.port) as s:
        s.sendall(wire.request(wire.API_VERSIONS, version, corr, body, flexible=flexible))
        resp = wire.read_frame(s, WAIT)
        assert resp is not None, f"ApiVersions v{version}: connection closed, no v0 error reply"
        got_corr, err, keys = wire.parse_api_versions_v0(resp)
        assert (got_corr, err) == (corr, wire.UNSUPPORTED_VERSION)
        assert keys.get(wire.API_VERSIONS) == healthy.supported[wire.API_VERSIONS]
        s.sendall(wire.api_versions_v0(corr ^ 1))
        again = wire.read_frame(s, WAIT)
        assert again is not None, "connection closed after the UNSUPPORTED_VERSION reply"
        assert wire.parse_api_versions_v0(again)[:2] == (corr ^ 1, 0)
    healthy.check()


def test_broker_still_serves_real_clients(healthy: Healthy) -> None:
    healthy.check_client()
    assert healthy.examples > 200
