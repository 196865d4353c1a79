"""Raw-socket Kafka requests, a bystander client that measures its latency, and /proc memory.

Hostile tests speak the wire protocol directly (what an attacker does) and use brook's own
generated message classes to build valid requests, so a test can send exactly one oversized
field and nothing else unusual.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from brook.protocol.headers import request_header_version, response_header_version
from brook.protocol.messages import RESPONSES
from brook.protocol.messages.api_versions import ApiVersionsRequest
from brook.protocol.messages.metadata import MetadataRequest
from brook.protocol.messages.request_header import RequestHeader


def encode_request(request: Any, version: int, correlation_id: int, client_id: str = "h") -> bytes:
    api_key = type(request).API_KEY
    header = RequestHeader(
        request_api_key=api_key, request_api_version=version,
        correlation_id=correlation_id, client_id=client_id,
    ).to_bytes(request_header_version(api_key, version))
    body = request.to_bytes(version)
    return struct.pack(">i", len(header) + len(body)) + header + body


def open_many(port: int, n: int, timeout: float = 10.0) -> list[socket.socket]:
    return [connect(port, timeout) for _ in range(n)]


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(s: socket.socket) -> bytes | None:
    """One response frame without its size prefix; None when the broker closed."""
    head = recv_exact(s, 4)
    if head is None:
        return None
    return recv_exact(s, struct.unpack(">i", head)[0])


def call(s: socket.socket, request: Any, version: int, correlation_id: int = 1) -> Any:
    """Send one request and decode its response; None when the broker closed instead."""
    s.sendall(encode_request(request, version, correlation_id))
    frame = read_frame(s)
    if frame is None:
        return None
    api_key = type(request).API_KEY
    (corr,) = struct.unpack_from(">i", frame, 0)
    assert corr == correlation_id, (corr, correlation_id)
    pos = 5 if response_header_version(api_key, version) == 1 else 4
    response, _ = RESPONSES[api_key].decode(memoryview(frame), pos, version)
    return response


def closed_by_peer(s: socket.socket, timeout: float) -> bool:
    """True once the broker closes ``s`` (EOF or reset) within ``timeout`` seconds."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


@dataclass
class Bystander:
    """An ordinary client doing ApiVersions + Metadata round trips on its own connection while
    an attack runs, recording every round trip's latency."""

    port: int
    interval: float = 0.05
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Bystander:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        corr = 0
        sock: socket.socket | None = None
        while not self._stop.is_set():
            try:
                if sock is None:
                    sock = connect(self.port, timeout=30)
                corr += 1
                t0 = time.monotonic()
                resp = call(sock, ApiVersionsRequest(client_software_name="bystander",
                                                      client_software_version="1"), 3, corr)
                corr += 1
                meta = call(sock, MetadataRequest(topics=[]), 12, corr)  # brokers only
                elapsed = time.monotonic() - t0
                if resp is None or meta is None or resp.error_code != 0:
                    self.failures.append(f"bad answer after {elapsed:.2f}s")
                    sock.close()
                    sock = None
                else:
                    self.latencies.append(elapsed)
            except OSError as exc:
                self.failures.append(repr(exc))
                if sock is not None:
                    sock.close()
                sock = None
            self._stop.wait(self.interval)
        if sock is not None:
            sock.close()

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))

    def check(self, max_latency: float, min_rounds: int = 3) -> None:
        assert not self.failures, self.failures[:5]
        assert len(self.latencies) >= min_rounds, self.latencies
        assert self.worst < max_latency, (
            f"bystander waited {self.worst:.2f}s (bound {max_latency}s); "
            f"{len(self.latencies)} rounds"
        )
