"""Microbenchmarks of the generated codec on the produce and fetch paths.

``python -m bench.codec`` prints one JSON line per case: what the broker does per request —
ProduceRequest decode (one 16 KiB batch), ProduceResponse encode, FetchRequest decode and
FetchResponse encode (8 partitions of 1 KiB batches) — at the newest version and at an older,
non-flexible one. Decoding goes through ``raw_decoder`` as the broker's dispatch does; times are
the best of several repeats, in nanoseconds per call.

``PYTHONPATH=<other>/src python -m bench.codec`` measures another tree's codec (e.g. an earlier
commit exported with ``git archive``) on the same machine, for before/after comparisons. The
inputs are built with the client directions, which ``tests/protocol_codec`` adds when the tree
measured keeps them out of ``src/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from typing import Any

from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse

if not ProduceRequest._ENCODERS:  # client directions live in the test-only package
    import tests.protocol_codec  # noqa: F401

PARTITIONS = 8
BATCH = 16 * 1024
FETCH_BATCH = 1024
TOPIC_ID = bytes(range(16))


def produce_request(version: int) -> bytes:
    data = ProduceRequest.TopicProduceData(
        name="bench-topic",
        partition_data=[ProduceRequest.PartitionProduceData(index=0, records=b"\x01" * BATCH)],
    )
    return ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[data]).to_bytes(version)


def produce_response() -> ProduceResponse:
    part = ProduceResponse.PartitionProduceResponse(index=0, base_offset=1234, log_start_offset=0)
    topic = ProduceResponse.TopicProduceResponse(name="bench-topic", partition_responses=[part])
    return ProduceResponse(responses=[topic])


def fetch_request(version: int) -> bytes:
    parts = [
        FetchRequest.FetchPartition(partition=p, fetch_offset=1000 * p, partition_max_bytes=1 << 20)
        for p in range(PARTITIONS)
    ]
    topic = FetchRequest.FetchTopic(topic="bench-topic", topic_id=TOPIC_ID, partitions=parts)
    request = FetchRequest(replica_id=-1, max_wait_ms=500, min_bytes=1, max_bytes=50 << 20, topics=[topic])
    return request.to_bytes(version)


def fetch_response(version: int) -> FetchResponse:
    records = memoryview(b"\x02" * FETCH_BATCH)
    parts = [
        FetchResponse.PartitionData(
            partition_index=p, high_watermark=5000, last_stable_offset=5000, log_start_offset=0,
            records=records,
        )
        for p in range(PARTITIONS)
    ]
    topic = FetchResponse.FetchableTopicResponse(topic="bench-topic", topic_id=TOPIC_ID, partitions=parts)
    return FetchResponse(responses=[topic])


def cases() -> list[tuple[str, int, Callable[[], Any]]]:
    out: list[tuple[str, int, Callable[[], Any]]] = []
    for version in (7, ProduceRequest.MAX_VERSION):
        buf = memoryview(produce_request(version))
        decode = ProduceRequest.raw_decoder(version)
        out.append(("produce_request_decode", version, lambda d=decode, b=buf: d(b, 0)))
        response = produce_response()
        out.append(("produce_response_encode", version, lambda r=response, v=version: r.encode(v)))
    for version in (11, FetchRequest.MAX_VERSION):
        buf = memoryview(fetch_request(version))
        decode = FetchRequest.raw_decoder(version)
        out.append(("fetch_request_decode", version, lambda d=decode, b=buf: d(b, 0)))
        response = fetch_response(version)
        out.append(("fetch_response_encode", version, lambda r=response, v=version: r.encode(v)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__)
    parser.add_argument("--number", type=int, default=20000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--label", default="", help="recorded in every line (e.g. before/after)")
    args = parser.parse_args(argv)
    for name, version, fn in cases():
        fn()  # warm up, and fail early
        best = min(timeit.repeat(fn, number=args.number, repeat=args.repeat))
        line = {"bench": name, "version": version, "ns_per_op": round(best / args.number * 1e9, 1)}
        if args.label:
            line["label"] = args.label
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
