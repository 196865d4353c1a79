"""A loopback TCP proxy that can cut the connections it carries, mid-frame.

One thread accepts; each connection gets two pump threads (client->broker "up",
broker->client "down"). A pump forwards one bounded chunk at a time with blocking writes,
so memory is bounded by ``chunk_size`` per direction per connection. ``arm_cut`` makes the
next chunk in a direction be forwarded only in part, after which every connection is reset.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

UP = "up"
DOWN = "down"


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                # RST instead of FIN: the peer sees an abrupt reset, as on a real network fault.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


@dataclass
class TcpProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``."""

    upstream_port: int
    max_connections: int = 32
    chunk_size: int = 65536
    port: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    accepted: int = 0
    cuts: int = 0
    _pairs: set[_Pair] = field(default_factory=set)
    _armed: dict[str, bool] = field(default_factory=lambda: {UP: False, DOWN: False})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cut_done: threading.Condition = field(init=False)
    _listener: socket.socket | None = None
    _stopped: bool = False
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cut_done = threading.Condition(self._lock)
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        t = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stopped = True
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        self.cut_all()
        for t in self._threads:
            t.join(5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cut_all(self) -> int:
        """Reset every open connection now; returns how many were cut."""
        with self._lock:
            pairs = [p for p in self._pairs if not p.closed]
            self._pairs.clear()
            for p in pairs:
                p.close()
            self.cuts += 1
            self._cut_done.notify_all()
        return len(pairs)

    def arm_cut(self, direction: str) -> int:
        """Forward only half of the next chunk going ``direction``, then cut everything.

        Returns the cut count to pass to ``wait_cut``.
        """
        with self._lock:
            self._armed[direction] = True
            return self.cuts + 1

    def wait_cut(self, target: int, timeout: float) -> bool:
        with self._lock:
            return self._cut_done.wait_for(lambda: self.cuts >= target, timeout)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                live = sum(1 for p in self._pairs if not p.closed)
            if live >= self.max_connections:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            for src, dst, direction in ((client, upstream, UP), (upstream, client, DOWN)):
                threading.Thread(target=self._pump, args=(pair, src, dst, direction),
                                 name=f"proxy-{direction}", daemon=True).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket, direction: str) -> None:
        try:
            while True:
                chunk = src.recv(self.chunk_size)
                if not chunk:
                    break
                with self._lock:
                    armed = self._armed[direction]
                    self._armed[direction] = False
                    if direction == UP:
                        self.bytes_up += len(chunk)
                    else:
                        self.bytes_down += len(chunk)
                if armed:
                    with contextlib.suppress(OSError):
                        dst.sendall(chunk[: len(chunk) // 2])
                    self.cut_all()
                    return
                dst.sendall(chunk)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
            pair.close()
