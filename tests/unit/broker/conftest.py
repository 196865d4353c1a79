"""A real BrokerNode (no client sockets) and a fake transport to drive connections directly."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from brook.broker.config import BrokerConfig
from brook.broker.connection import KafkaConnection
from brook.broker.node import BrokerNode
from brook.protocol.headers import request_header_version
from brook.protocol.messages import RESPONSES
from brook.protocol.messages.request_header import RequestHeader


class FakeTransport(asyncio.Transport):
    """Collects what the connection writes; records pause/resume/close."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: Any) -> None:
        self.out += bytes(data)

    def writelines(self, chunks: Any) -> None:
        for c in chunks:
            self.out += bytes(c)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def frames(self) -> list[bytes]:
        out, frames = bytes(self.out), []
        pos = 0
        while pos + 4 <= len(out):
            size = struct.unpack_from(">i", out, pos)[0]
            frames.append(out[pos + 4 : pos + 4 + size])
            pos += 4 + size
        return frames


def encode_request(request: Any, version: int, correlation_id: int, client_id: str = "t") -> bytes:
    api_key = type(request).API_KEY
    header = RequestHeader(
        request_api_key=api_key, request_api_version=version,
        correlation_id=correlation_id, client_id=client_id,
    ).to_bytes(request_header_version(api_key, version))
    body = request.to_bytes(version)
    return struct.pack(">i", len(header) + len(body)) + header + body


def decode_response(frame: bytes, api_key: int, version: int) -> tuple[int, Any]:
    """(correlation id, response) from one response frame."""
    from brook.protocol.headers import response_header_version

    mv = memoryview(frame)
    correlation_id = struct.unpack_from(">i", frame, 0)[0]
    pos = 4
    if response_header_version(api_key, version) == 1:
        assert frame[4] == 0  # empty tagged fields
        pos = 5
    response, _ = RESPONSES[api_key].decode(mv, pos, version)
    return correlation_id, response


class Harness:
    def __init__(self, node: BrokerNode, loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self.loop = loop

    def connect(self) -> tuple[KafkaConnection, FakeTransport]:
        conn = KafkaConnection(self.node, "PLAINTEXT")
        transport = FakeTransport()
        conn.connection_made(transport)
        return conn, transport

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


def feed(conn: KafkaConnection, data: bytes, chunk: int | None = None) -> None:
    step = chunk or len(data)
    pos = 0
    while pos < len(data):
        buf = conn.get_buffer(-1)
        n = min(step, len(buf), len(data) - pos)
        buf[:n] = data[pos : pos + n]
        conn.buffer_updated(n)
        pos += n


@pytest.fixture(name="harness")
def fixture_harness(tmp_path: Path) -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    config = BrokerConfig.from_props({
        "node.id": "1",
        "listeners": "PLAINTEXT://127.0.0.1:0",
        "log.dirs": str(tmp_path / "data"),
        "socket.request.max.bytes": str(1024 * 1024),
    })
    node = BrokerNode(config)
    loop.run_until_complete(node.start())
    try:
        yield Harness(node, loop)
    finally:
        loop.run_until_complete(node.stop())
        loop.close()
