"""Clients that hold REST connections open without finishing a request, against a real worker
process on loopback: trickled heads and bodies are cut off, oversized headers refused."""

from __future__ import annotations

import socket
import time
from typing import Any


def _closed(sock: socket.socket, timeout: float) -> bool:
    """Did the worker close ``sock`` within ``timeout`` (EOF or reset)? Data is drained."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def test_connections_that_never_finish_a_request_head_are_closed(
        bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap, **{"rest.request.read.timeout.ms": "1500"})
    held: list[socket.socket] = []
    try:
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", worker.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GE")
            held.append(s)
        # Trickling one header byte at a time does not extend the deadline.
        trickle = held[1]
        start = time.monotonic()
        while time.monotonic() - start < 4:
            try:
                trickle.sendall(b"X")
            except OSError:
                break
            time.sleep(0.3)
        assert time.monotonic() - start < 4, "a trickled request head kept its connection"
        assert worker.request("GET", "/")[0] == 200  # others are served meanwhile
        assert all(_closed(s, 5) for s in held), "idle half-sent requests kept their sockets"
        # A kept-alive connection gets the same deadline for its next request's head.
        s = socket.create_connection(("127.0.0.1", worker.port))
        held.append(s)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET / HT")
        assert _closed(s, 8)
    finally:
        for s in held:
            s.close()


def test_oversized_request_headers_are_refused(bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap)
    with socket.create_connection(("127.0.0.1", worker.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        s.settimeout(10)
        try:
            reply = s.recv(65536)
        except ConnectionResetError:
            reply = b""
    assert not reply.startswith(b"HTTP/1.1 200"), reply[:100]
    assert worker.request("GET", "/")[0] == 200


def test_a_trickled_body_is_cut_off(bootstrap: str, worker_factory: Any) -> None:
    worker = worker_factory(bootstrap, **{"rest.request.read.timeout.ms": "1500"})
    with socket.create_connection(("127.0.0.1", worker.port)) as s:
        s.sendall(b"POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
        start = time.monotonic()
        while time.monotonic() - start < 5:
            try:
                s.sendall(b" ")
            except OSError:
                break
            time.sleep(0.3)
        assert time.monotonic() - start < 5, "a trickled body kept its connection"
    assert worker.request("GET", "/")[0] == 200
