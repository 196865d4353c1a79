"""The fault proxy on real loopback sockets: each mode does what it says, per link.

Upstream is an echo server; a "broker" is a client whose first bytes are a Kafka request
header carrying the client id a replica fetcher or a forwarding broker uses, so the proxy must
tell the sources apart by reading it.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from brook.testing.fault_proxy import ANY, FaultNet, Mode, source_of_client_id

pytestmark = pytest.mark.timeout(60)


class Echo:
    """A threaded echo server: everything a connection sends comes back on it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def request(client_id: str | None, body: bytes = b"") -> bytes:
    """A Kafka request frame: size, api key, version, correlation id, client id, body."""
    cid = b"" if client_id is None else client_id.encode()
    header = struct.pack(">hhih", 1, 12, 7, -1 if client_id is None else len(cid)) + cid
    return struct.pack(">i", len(header) + len(body)) + header + body


def connect(port: int, client_id: str | None, body: bytes = b"hello") -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    frame = request(client_id, body)
    s.sendall(frame)
    return s, frame


def recv_exactly(s: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    s.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def nothing_arrives(s: socket.socket, within: float = 0.5) -> bool:
    s.settimeout(within)
    try:
        return s.recv(1) == b"" and False
    except TimeoutError:
        return True


@pytest.fixture(name="echo")
def fixture_echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.close()


@pytest.fixture(name="net")
def fixture_net() -> Iterator[FaultNet]:
    with FaultNet() as net:
        yield net


def test_client_ids_name_their_broker() -> None:
    assert source_of_client_id("broker-2-fetcher-1") == "broker-2"
    assert source_of_client_id("brook-controller-forwarding-3") == "broker-3"
    assert source_of_client_id("brook-alter-partition-12") == "broker-12"
    for other in ("rdkafka", "", None, "broker-x-fetcher-1", "brook-cli"):
        assert source_of_client_id(other) == ANY


def test_pass_forwards_both_ways_and_tells_sources_apart(echo: Echo, net: FaultNet) -> None:
    proxy = net.proxy("broker-1", echo.port)
    fetcher, f_frame = connect(proxy.port, "broker-2-fetcher-1")
    forwarder, w_frame = connect(proxy.port, "brook-controller-forwarding-3")
    stranger, s_frame = connect(proxy.port, "rdkafka")
    with fetcher, forwarder, stranger:
        assert recv_exactly(fetcher, len(f_frame)) == f_frame
        assert recv_exactly(forwarder, len(w_frame)) == w_frame
        assert recv_exactly(stranger, len(s_frame)) == s_frame
        big = bytes(range(256)) * 20_000  # 5 MB, several chunks and queue turns
        fetcher.sendall(big)
        assert recv_exactly(fetcher, len(big), timeout=20) == big
    assert proxy.accepted == {"broker-2": 1, "broker-3": 1, ANY: 1}
    assert proxy.bytes_by_source["broker-2"] == len(f_frame) + len(big)


def test_drop_stalls_one_source_only_and_heal_delivers_what_was_held(
        echo: Echo, net: FaultNet) -> None:
    proxy = net.proxy("broker-1", echo.port)
    open_before, frame = connect(proxy.port, "broker-2-fetcher-1")
    assert recv_exactly(open_before, len(frame)) == frame
    net.set_link("broker-2", "broker-1", Mode.DROP)
    assert net.mode("broker-2", "broker-1") is Mode.DROP
    open_before.sendall(b"during")
    new, new_frame = connect(proxy.port, "broker-2-fetcher-1")  # accepted, then stalls
    other, other_frame = connect(proxy.port, "broker-3-fetcher-1")
    with open_before, new, other:
        assert recv_exactly(other, len(other_frame)) == other_frame
        assert nothing_arrives(open_before)
        assert nothing_arrives(new)
        accepted_upstream = echo.accepted
        net.heal()
        assert recv_exactly(open_before, 6) == b"during"
        assert recv_exactly(new, len(new_frame)) == new_frame
        assert echo.accepted == accepted_upstream + 1  # the held connection reached upstream now


def test_reset_aborts_open_connections_and_refuses_new_ones(echo: Echo, net: FaultNet) -> None:
    proxy = net.proxy("broker-1", echo.port)
    victim, frame = connect(proxy.port, "broker-2-fetcher-1")
    bystander, b_frame = connect(proxy.port, "broker-3-fetcher-1")
    with victim, bystander:
        assert recv_exactly(victim, len(frame)) == frame
        assert recv_exactly(bystander, len(b_frame)) == b_frame
        net.set_link("broker-2", "broker-1", Mode.RESET)
        with pytest.raises(ConnectionResetError):
            victim.recv(1)
        again, _ = connect(proxy.port, "broker-2-fetcher-1")
        with again, pytest.raises(ConnectionResetError):
            again.settimeout(5)
            again.recv(1)
        bystander.sendall(b"still here")
        assert recv_exactly(bystander, 10) == b"still here"
    net.heal()
    healed, frame = connect(proxy.port, "broker-2-fetcher-1")
    with healed:
        assert recv_exactly(healed, len(frame)) == frame


def test_delay_adds_latency_each_way(echo: Echo, net: FaultNet) -> None:
    proxy = net.proxy("broker-1", echo.port)
    s, frame = connect(proxy.port, "broker-2-fetcher-1")
    with s:
        assert recv_exactly(s, len(frame)) == frame
        net.set_link("broker-2", "broker-1", Mode.PASS, delay_s=0.5)
        started = time.monotonic()
        s.sendall(b"ping")
        assert recv_exactly(s, 4) == b"ping"
        assert time.monotonic() - started >= 1.0  # 0.5 s up and 0.5 s down
        net.heal()
        started = time.monotonic()
        s.sendall(b"pong")
        assert recv_exactly(s, 4) == b"pong"
        assert time.monotonic() - started < 1.0


def test_a_fixed_source_proxy_and_the_catch_all_rule(echo: Echo, net: FaultNet) -> None:
    """Per-broker proxies to one upstream (as to etcd): the link is the proxy's, and a rule for
    ANY covers every source without a rule of its own."""
    one = net.proxy("etcd", echo.port, source="broker-1")
    two = net.proxy("etcd", echo.port, source="broker-2")
    net.set_link("broker-1", "etcd", Mode.DROP)
    a = socket.create_connection(("127.0.0.1", one.port), timeout=5)
    b = socket.create_connection(("127.0.0.1", two.port), timeout=5)
    with a, b:
        a.sendall(b"not kafka at all")
        b.sendall(b"not kafka at all")
        assert recv_exactly(b, 16) == b"not kafka at all"
        assert nothing_arrives(a)
        net.set_link(ANY, "etcd", Mode.RESET)
        with pytest.raises(ConnectionResetError):
            b.settimeout(5)
            b.recv(1)
        # broker-1's own DROP rule wins over the catch-all: its connection is held, not reset
        assert nothing_arrives(a)
    assert one.accepted == {"broker-1": 1} and two.accepted == {"broker-2": 1}
