"""A bare Metadata v1 request over a socket: readiness probe and startup timer.

A raw request is used instead of a client library so that "time until a Metadata request
answers" carries no client reconnect backoff.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_API_METADATA = 3
_VERSION = 1


@dataclass
class MetadataSummary:
    brokers: int
    topics: int
    partitions: int
    response_bytes: int


def _request(correlation_id: int) -> bytes:
    client = b"bench"
    body = struct.pack(">hhih", _API_METADATA, _VERSION, correlation_id, len(client)) + client
    body += struct.pack(">i", -1)  # null topic array: all topics
    return struct.pack(">i", len(body)) + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def int32_array(self) -> None:
        n = self.take(">i")
        self.pos += 4 * max(n, 0)

    def string(self) -> None:
        n = self.take(">h")
        self.pos += max(n, 0)


def _parse(data: bytes) -> MetadataSummary:
    r = _Reader(data)
    n_brokers = r.take(">i")
    for _ in range(max(n_brokers, 0)):
        r.take(">i")
        r.string()
        r.take(">i")
        r.string()  # rack
    r.take(">i")  # controller id
    n_topics = r.take(">i")
    partitions = 0
    for _ in range(max(n_topics, 0)):
        r.take(">h")
        r.string()
        r.take(">b")
        n_parts = r.take(">i")
        partitions += max(n_parts, 0)
        for _ in range(max(n_parts, 0)):
            r.take(">h")
            r.take(">i")
            r.take(">i")
            r.int32_array()  # replicas
            r.int32_array()  # isr
    return MetadataSummary(n_brokers, n_topics, partitions, len(data))


def metadata(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> MetadataSummary:
    """Send one Metadata v1 request for all topics; raise OSError if nothing valid answers."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(_request(7))
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        if size < 4 or size > 512 * 1024 * 1024:
            raise ConnectionError(f"implausible response size {size}")
        payload = _recv_exact(sock, size)
    (corr,) = struct.unpack_from(">i", payload)
    if corr != 7:
        raise ConnectionError(f"correlation id {corr} != 7")
    try:
        return _parse(payload[4:])
    except struct.error as e:
        raise ConnectionError(f"malformed Metadata response: {e}") from e
