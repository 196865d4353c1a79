"""Hand-built Kafka request frames and a blocking reader, for raw-socket tests."""

from __future__ import annotations

import socket
import struct
import time

API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def compact_string(s: str) -> bytes:
    b = s.encode()
    return uvarint(len(b) + 1) + b


def header(api_key: int, version: int, correlation_id: int, client_id: str | None = "fuzz",
           flexible: bool = False) -> bytes:
    h = struct.pack(">hhi", api_key, version, correlation_id) + string(client_id)
    return h + (b"\x00" if flexible else b"")


def frame(payload: bytes, size: int | None = None) -> bytes:
    return struct.pack(">i", len(payload) if size is None else size) + payload


def request(api_key: int, version: int, correlation_id: int, body: bytes = b"",
            flexible: bool = False) -> bytes:
    return frame(header(api_key, version, correlation_id, flexible=flexible) + body)


def api_versions_v0(correlation_id: int) -> bytes:
    return request(API_VERSIONS, 0, correlation_id)


def parse_api_versions_v0(resp: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(correlation id, error code, {api key: (min, max)}) of a framed v0 response."""
    (size,) = struct.unpack_from(">i", resp)
    assert size == len(resp) - 4, (size, len(resp))
    corr, err, n = struct.unpack_from(">ihi", resp, 4)
    keys: dict[int, tuple[int, int]] = {}
    pos = 14
    for _ in range(max(n, 0)):
        k, lo, hi = struct.unpack_from(">hhh", resp, pos)
        keys[k] = (lo, hi)
        pos += 6
    return corr, err, keys


# Valid request bodies (header flexibility, api key, version, body) to cut short.
VALID_BODIES: list[tuple[str, int, int, bool, bytes]] = [
    ("metadata-v1", 3, 1, False, struct.pack(">i", 2) + string("fuzz-a") + string("fuzz-bb")),
    ("metadata-v9", 3, 9, True,
     uvarint(3) + compact_string("fuzz-a") + b"\x00" + compact_string("fuzz-bb") + b"\x00"
     + b"\x00\x00\x00\x00"),
    ("create-topics-v0", 19, 0, False,
     struct.pack(">i", 1) + string("fuzz-created") + struct.pack(">ihi", 1, 1, 0)
     + struct.pack(">i", 1) + string("retention.ms") + string("1000") + struct.pack(">i", 5000)),
    ("list-offsets-v1", 2, 1, False,
     struct.pack(">ii", -1, 1) + string("fuzz-a") + struct.pack(">iiq", 1, 0, -1)),
    ("produce-v3", 0, 3, False,
     string(None) + struct.pack(">hii", 1, 5000, 1) + string("fuzz-a")
     + struct.pack(">iii", 1, 0, 12) + b"\x00" * 12),
    ("fetch-v4", 1, 4, False,
     struct.pack(">iiiib", -1, 0, 0, 1 << 20, 0) + struct.pack(">i", 1) + string("fuzz-a")
     + struct.pack(">iiqi", 1, 0, 0, 1 << 20)),
]


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int, deadline: float) -> bytes | None:
    """``n`` bytes, or None if the peer closed first; TimeoutError at ``deadline``."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"got {len(buf)} of {n} bytes")
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except TimeoutError:
            raise TimeoutError(f"got {len(buf)} of {n} bytes") from None
        except ConnectionError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(s: socket.socket, timeout: float) -> bytes | None:
    """One size-prefixed frame (prefix included), or None on EOF/reset."""
    deadline = time.monotonic() + timeout
    head = recv_exact(s, 4, deadline)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    assert 0 <= size <= 64 << 20, f"implausible response size {size}"
    body = recv_exact(s, size, deadline)
    return None if body is None else head + body


def read_to_eof(s: socket.socket, timeout: float) -> bytes:
    """Everything the peer sends until it closes; TimeoutError if it never does."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"connection still open after {timeout}s ({len(buf)} bytes read)")
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:
            return bytes(buf)
        if not chunk:
            return bytes(buf)
        buf += chunk
