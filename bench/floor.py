"""The floor: a Python broker that does no work, to show what the small-request path costs.

``python -m bench.floor --port N`` serves just enough of the protocol for a producer
(ApiVersions, Metadata, CreateTopics, Produce) on the event loop brook uses (uvloop), one
``write`` per response, but answers every Produce with a response encoded once: no request
decoding, no validation, no log append. Its requests/s in the ``request_rate`` scenario is the ceiling for any broker built
on a Python event loop on this machine; the gap between it and brook is brook's request work,
and the gap between it and the peer is what the loop, the system calls and the wake-ups leave.

Not a broker: nothing is stored, offsets are made up, every topic has one partition (the
scenarios it serves use one), and
produce responses are cached by API version and request size (the scenario's requests all
have the same size and topic), so a different topic of the same size would get a wrong answer.
"""

from __future__ import annotations

import argparse
import asyncio
import struct
from typing import Any

from brook.protocol.api_keys import ApiKey
from brook.protocol.headers import (
    decode_request_header,
    response_frame_head,
    response_header_version,
)
from brook.protocol.messages import REQUESTS
from brook.protocol.messages.api_versions import ApiVersionsResponse
from brook.protocol.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from brook.protocol.messages.metadata import MetadataRequest, MetadataResponse
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse

_SIZE = struct.Struct(">i")
_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
_VERSIONS = {ApiKey.API_VERSIONS: (0, 3), ApiKey.METADATA: (1, 12),
             ApiKey.CREATE_TOPICS: (2, 7), ApiKey.PRODUCE: (3, 10)}
_TOPIC_ID = bytes(range(1, 17))


def _frame(response: Any, correlation_id: int, api_key: int, version: int) -> bytes:
    body = b"".join(bytes(c) for c in response.encode(version))
    flexible = response_header_version(api_key, version) == 1
    return response_frame_head(correlation_id, flexible, len(body)) + body


class FloorConnection(asyncio.Protocol):
    def __init__(
        self, port: int, produce_cache: dict[tuple[int, int], bytes], topics: set[str]
    ) -> None:
        self.port = port
        self.topics = topics  # created so far, shared by all connections
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.produce_cache = produce_cache

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while len(buf) >= 4:
            (size,) = _SIZE.unpack_from(buf, 0)
            if len(buf) < 4 + size:
                return
            frame = bytes(buf[4 : 4 + size])
            del buf[: 4 + size]
            self.on_frame(frame)

    def on_frame(self, frame: bytes) -> None:
        assert self.transport is not None
        api_key, version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(frame, 0)
        if api_key == ApiKey.PRODUCE:
            key = (version, len(frame))
            canned = self.produce_cache.get(key)
            if canned is None:
                canned = self.produce_response(frame, version)
                self.produce_cache[key] = canned
            self.transport.write(canned[:4] + frame[4:8] + canned[8:])
            return
        self.transport.write(self.other(frame, api_key, version, correlation_id))

    def produce_response(self, frame: bytes, version: int) -> bytes:
        _, pos = decode_request_header(memoryview(frame), 0)
        request, _ = ProduceRequest.decode(memoryview(frame), pos, version)
        topics = [
            ProduceResponse.TopicProduceResponse(
                name=t.name,
                partition_responses=[
                    ProduceResponse.PartitionProduceResponse(
                        index=p.index, base_offset=0, log_append_time_ms=-1, log_start_offset=0)
                    for p in t.partition_data
                ],
            )
            for t in request.topic_data
        ]
        return _frame(ProduceResponse(responses=topics), 0, ApiKey.PRODUCE, version)

    def other(self, frame: bytes, api_key: int, version: int, correlation_id: int) -> bytes:
        if api_key == ApiKey.API_VERSIONS:
            keys = [ApiVersionsResponse.ApiVersion(api_key=k, min_version=lo, max_version=hi)
                    for k, (lo, hi) in _VERSIONS.items()]
            return _frame(ApiVersionsResponse(api_keys=keys), correlation_id, api_key,
                          min(version, 3))
        _, pos = decode_request_header(memoryview(frame), 0)
        request, _ = REQUESTS[api_key].decode(memoryview(frame), pos, version)
        if api_key == ApiKey.METADATA:
            assert isinstance(request, MetadataRequest)
            names = sorted(self.topics) if request.topics is None else [
                t.name or "" for t in request.topics]
            topics = [MetadataResponse.MetadataResponseTopic(
                name=n, topic_id=_TOPIC_ID, partitions=[MetadataResponse.MetadataResponsePartition(
                    partition_index=0, leader_id=1, leader_epoch=0, replica_nodes=[1],
                    isr_nodes=[1])]) for n in names]
            response: Any = MetadataResponse(
                brokers=[MetadataResponse.MetadataResponseBroker(1, "127.0.0.1", self.port)],
                cluster_id="floor", controller_id=1, topics=topics)
        elif api_key == ApiKey.CREATE_TOPICS:
            assert isinstance(request, CreateTopicsRequest)
            self.topics.update(t.name for t in request.topics)
            response = CreateTopicsResponse(topics=[CreateTopicsResponse.CreatableTopicResult(
                name=t.name, topic_id=_TOPIC_ID, error_message=None, num_partitions=1,
                replication_factor=1) for t in request.topics])
        else:
            raise ValueError(f"api key {api_key} is not served by the floor")
        return _frame(response, correlation_id, api_key, version)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    cache: dict[tuple[int, int], bytes] = {}
    topics: set[str] = set()
    server = await loop.create_server(
        lambda: FloorConnection(port, cache, topics), "127.0.0.1", port
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    import uvloop

    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
