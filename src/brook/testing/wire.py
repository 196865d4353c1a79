"""A blocking, one-connection Kafka client built on brook's own codec, for fault tests.

Real clients hide what fault tests need to control: which producer id and sequence number a
batch carries, and whether a batch is sent a second time. ``WireClient`` sends exactly the
requests a test builds; ``IdempotentSender`` is an idempotent producer whose retries are
explicit (``send(..., sequence=n)`` twice is a retry of the same batch).
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from brook.protocol.headers import RequestHeader, request_header_version, response_header_version
from brook.protocol.messages import RESPONSES
from brook.protocol.messages.init_producer_id import InitProducerIdRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch

__all__ = ["IdempotentSender", "WireClient"]

_SIZE = struct.Struct(">i")


class WireClient:
    """One TCP connection; ``call`` sends a request and waits for its response."""

    def __init__(self, bootstrap: str, timeout: float = 30.0) -> None:
        host, _, port = bootstrap.rpartition(":")
        self._sock = socket.create_connection((host, int(port)), timeout=timeout)
        self._correlation = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, request: Any, version: int) -> Any:
        api_key = type(request).API_KEY
        self._correlation += 1
        header = RequestHeader(
            request_api_key=api_key, request_api_version=version,
            correlation_id=self._correlation, client_id="brook-testing",
        ).to_bytes(request_header_version(api_key, version))
        body = request.to_bytes(version)
        self._sock.sendall(_SIZE.pack(len(header) + len(body)) + header + body)
        frame = self._read_frame()
        (correlation,) = _SIZE.unpack_from(frame, 0)
        if correlation != self._correlation:
            raise RuntimeError(f"correlation {correlation} != {self._correlation}")
        pos = 5 if response_header_version(api_key, version) == 1 else 4
        response, _ = RESPONSES[api_key].decode(memoryview(frame), pos, version)
        return response

    def _read_exactly(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self._sock.recv(n)
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self) -> bytes:
        (size,) = _SIZE.unpack(self._read_exactly(4))
        return self._read_exactly(size)


class IdempotentSender:
    """An idempotent producer on one partition with explicit sequence numbers."""

    def __init__(self, client: WireClient, topic: str, partition: int = 0) -> None:
        self.client = client
        self.topic = topic
        self.partition = partition
        response = client.call(InitProducerIdRequest(transactional_id=None), 4)
        if response.error_code:
            raise RuntimeError(f"InitProducerId failed with error {response.error_code}")
        self.producer_id: int = response.producer_id
        self.producer_epoch: int = response.producer_epoch
        self.next_sequence = 0

    def send(self, values: list[bytes], sequence: int | None = None,
             timestamp_ms: int = 0) -> tuple[int, int]:
        """Produce one batch with acks=all; return (error code, base offset). Without
        ``sequence`` the batch takes the next one; with it, it may repeat an earlier batch."""
        seq = self.next_sequence if sequence is None else sequence
        batch = build_batch(
            [(None, v, (), timestamp_ms) for v in values],
            producer_id=self.producer_id, producer_epoch=self.producer_epoch, base_sequence=seq,
        )
        request = ProduceRequest(acks=-1, timeout_ms=10_000, topic_data=[
            ProduceRequest.TopicProduceData(name=self.topic, partition_data=[
                ProduceRequest.PartitionProduceData(index=self.partition, records=bytes(batch))
            ])
        ])
        response = self.client.call(request, 9)
        part = response.responses[0].partition_responses[0]
        if sequence is None and part.error_code == 0:
            self.next_sequence = seq + len(values)
        return int(part.error_code), int(part.base_offset)


