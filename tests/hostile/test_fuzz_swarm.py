"""A seeded protocol fuzzer: many connections at once mixing valid and mutated requests.

Each worker thread replays its own deterministic stream (``BROOK_FUZZ_SEED`` + worker index):
valid requests of a dozen APIs, and mutations of them (flipped bytes, honest truncation,
appended garbage, unknown keys and versions, size prefixes that lie, bytes trickled slowly).
A valid request on a fresh connection must be answered with its correlation id; anything else
must be answered or the connection closed within ``WAIT`` seconds. Throughout, a bystander's
round trips stay fast, the broker's peak memory stays under ``RSS_BOUND``, and it ends alive and
serving a real client.

Run: ``pytest -m slow tests/hostile/test_fuzz_swarm.py -s`` (``BROOK_FUZZ_SECONDS``,
``BROOK_FUZZ_WORKERS`` and ``BROOK_FUZZ_SEED`` tune it).
"""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from brook.protocol.messages.api_versions import ApiVersionsRequest
from brook.protocol.messages.create_topics import CreateTopicsRequest
from brook.protocol.messages.describe_configs import DescribeConfigsRequest
from brook.protocol.messages.fetch import FetchRequest
from brook.protocol.messages.find_coordinator import FindCoordinatorRequest
from brook.protocol.messages.list_offsets import ListOffsetsRequest
from brook.protocol.messages.metadata import MetadataRequest
from brook.protocol.messages.offset_commit import OffsetCommitRequest
from brook.protocol.messages.offset_fetch import OffsetFetchRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from tests.hostile.conftest import MakeBroker
from tests.hostile.hostile_kit import Bystander, encode_request, proc_status

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEED = int(os.environ.get("BROOK_FUZZ_SEED", "20261206"))
SECONDS = float(os.environ.get("BROOK_FUZZ_SECONDS", "90"))
WORKERS = int(os.environ.get("BROOK_FUZZ_WORKERS", "24"))
WAIT = 15.0
RSS_BOUND = 600 * 1024 * 1024
TOPIC = "swarm"


def _valid(rng: random.Random) -> tuple[Any, int]:
    """One valid request and the version to send it at."""
    batch = bytes(build_batch([(b"k", rng.randbytes(rng.randint(0, 2000)), (), 1_700_000_000_000)]))
    choices: list[Callable[[], tuple[Any, int]]] = [
        lambda: (ApiVersionsRequest(client_software_name="fz", client_software_version="1"), 3),
        lambda: (MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=TOPIC)],
                                 allow_auto_topic_creation=False), rng.choice([9, 12])),
        lambda: (MetadataRequest(topics=None), 1),
        lambda: (ProduceRequest(acks=rng.choice([1, -1]), timeout_ms=5000, topic_data=[
            ProduceRequest.TopicProduceData(name=TOPIC, partition_data=[
                ProduceRequest.PartitionProduceData(index=rng.randint(0, 2), records=batch)])]),
                 rng.choice([3, 7, 9])),
        lambda: (FetchRequest(max_wait_ms=rng.choice([0, 50]), min_bytes=1, max_bytes=1 << 20,
                              session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(
                                  topic=TOPIC, partitions=[FetchRequest.FetchPartition(
                                      partition=rng.randint(0, 2),
                                      fetch_offset=rng.randint(0, 50),
                                      partition_max_bytes=1 << 16)])]), 11),
        lambda: (ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            name=TOPIC, partitions=[ListOffsetsRequest.ListOffsetsPartition(
                partition_index=rng.randint(0, 2), timestamp=rng.choice([-1, -2]))])]), 5),
        lambda: (FindCoordinatorRequest(key=f"g{rng.randint(0, 5)}", key_type=0), 3),
        lambda: (OffsetCommitRequest(group_id=f"g{rng.randint(0, 5)}", topics=[
            OffsetCommitRequest.OffsetCommitRequestTopic(name=TOPIC, partitions=[
                OffsetCommitRequest.OffsetCommitRequestPartition(
                    partition_index=rng.randint(0, 2), committed_offset=rng.randint(0, 99))])]),
                 rng.choice([2, 8])),
        lambda: (OffsetFetchRequest(group_id=f"g{rng.randint(0, 5)}", topics=None), 6),
        lambda: (DescribeConfigsRequest(resources=[DescribeConfigsRequest.DescribeConfigsResource(
            resource_type=2, resource_name=TOPIC, configuration_keys=None)]), 1),
        lambda: (CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
            name=f"swarm-{rng.randint(0, 30)}", num_partitions=1, replication_factor=1)],
            timeout_ms=5000), 5),
    ]
    return rng.choice(choices)()


def _mutate(rng: random.Random, frame: bytes) -> tuple[str, bytes, bool]:
    """(kind, bytes to send, whether the frame is complete as sent)."""
    body = bytearray(frame[4:])
    kind = rng.choice(["flip", "truncate", "garbage-tail", "key-version", "size-lie", "zero-size",
                       "huge-claim"])
    if kind == "flip":
        for _ in range(rng.randint(1, 6)):
            body[rng.randrange(8 if rng.random() < 0.8 else 0, len(body))] = rng.randrange(256)
    elif kind == "truncate":
        del body[rng.randint(8, max(8, len(body) - 1)):]
    elif kind == "garbage-tail":
        body += rng.randbytes(rng.randint(1, 300))
    elif kind == "key-version":
        struct.pack_into(">hh", body, 0, rng.randint(-5, 80), rng.randint(-3, 40))
    elif kind == "size-lie":  # claims more than is sent: the broker waits, then times it out
        return kind, struct.pack(">i", len(body) + rng.randint(1, 5000)) + bytes(body), False
    elif kind == "zero-size":
        return kind, struct.pack(">i", rng.choice([0, 3, -1, -(2**31)])) + bytes(body), True
    else:
        return kind, struct.pack(">i", rng.randint(1 << 20, 100 << 20)) + bytes(body[:64]), False
    return kind, struct.pack(">i", len(body)) + bytes(body), True


def _read_answer(s: socket.socket, deadline: float) -> bytes | None:
    """One response frame; None if the broker closed; TimeoutError past the deadline."""
    buf = b""
    need = 4
    while len(buf) < need:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        s.settimeout(left)
        try:
            chunk = s.recv(need - len(buf))
        except (ConnectionResetError, BrokenPipeError):
            return None
        if not chunk:
            return None
        buf += chunk
        if need == 4 and len(buf) == 4:
            need = 4 + struct.unpack(">i", buf)[0]
    return buf[4:]


class Worker(threading.Thread):
    def __init__(self, port: int, index: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.rng = random.Random(SEED + index)
        self.stop = stop
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.session()
        except Exception as exc:  # reported by the test, not lost in the thread
            self.failures.append(repr(exc))

    def session(self) -> None:
        """One connection: valid requests until a mutation, which ends the connection."""
        rng = self.rng
        corr = 0
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        except OSError as exc:
            self.failures.append(f"connect failed: {exc}")
            return
        with s:
            for _ in range(rng.randint(1, 12)):
                corr += 1
                request, version = _valid(rng)
                frame = encode_request(request, version, corr)
                if rng.random() < 0.3:
                    self.mutated(s, frame, corr)
                    return
                if rng.random() < 0.03:
                    for i in range(0, len(frame), 7):  # trickled, but complete
                        s.sendall(frame[i : i + 7])
                        time.sleep(0.002)
                    self.counts["valid-trickled"] += 1
                else:
                    s.sendall(frame)
                self.counts["valid"] += 1
                try:
                    answer = _read_answer(s, time.monotonic() + WAIT)
                except TimeoutError:
                    self.failures.append(f"valid {type(request).__name__} v{version} unanswered")
                    return
                if answer is None:
                    self.failures.append(f"valid {type(request).__name__} v{version}: closed")
                    return
                if struct.unpack_from(">i", answer)[0] != corr:
                    self.failures.append("answer with a foreign correlation id")
                    return
                self.counts["answered"] += 1

    def mutated(self, s: socket.socket, frame: bytes, corr: int) -> None:
        kind, data, complete = _mutate(self.rng, frame)
        self.counts[f"mutated-{kind}"] += 1
        try:
            s.sendall(data)
        except OSError:
            self.counts["closed-while-sending"] += 1
            return
        if not complete:
            self.counts["abandoned-partial"] += 1
            return  # closing with a partial frame; others were kept open for the idle timer
        try:
            answer = _read_answer(s, time.monotonic() + WAIT)
        except TimeoutError:
            self.failures.append(f"mutated ({kind}) frame neither answered nor closed")
            return
        self.counts["mutated-answered" if answer is not None else "mutated-closed"] += 1


def test_swarm_of_valid_and_mutated_requests(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"connections.max.idle.ms": "3000",
                            "queued.max.request.bytes": str(64 << 20)})
    setup = encode_request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=TOPIC, num_partitions=3, replication_factor=1)]), 5, 1)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=30) as s:
        s.sendall(setup)
        assert _read_answer(s, time.monotonic() + 30) is not None
    stop = threading.Event()
    workers = [Worker(broker.port, i, stop) for i in range(WORKERS)]
    peak = 0
    with Bystander(broker.port, interval=0.1) as bystander:
        for w in workers:
            w.start()
        end = time.monotonic() + SECONDS
        while time.monotonic() < end and broker.alive():
            peak = max(peak, proc_status(broker.pid)["VmRSS"])
            time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(WAIT * 2)
    totals: Counter[str] = Counter()
    for w in workers:
        totals.update(w.counts)
    failures = [f for w in workers for f in w.failures]
    hwm = proc_status(broker.pid)["VmHWM"]
    print(f"\nswarm seed={SEED} workers={WORKERS} seconds={SECONDS}: "
          f"{sum(v for k, v in totals.items() if k in ('valid',))} valid, "
          f"{sum(v for k, v in totals.items() if k.startswith('mutated-') and k[8:] not in ('answered', 'closed'))} mutated; "
          f"{dict(sorted(totals.items()))}; peak RSS {hwm >> 20} MiB; bystander worst "
          f"{bystander.worst:.3f}s over {len(bystander.latencies)} rounds; failures {failures[:5]}")
    assert broker.alive()
    assert not failures, failures[:10]
    assert totals["valid"] > 500 and totals["answered"] == totals["valid"]
    assert hwm < RSS_BOUND
    bystander.check(max_latency=5.0)
    # A real client still produces and consumes.
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{broker.port}"})
    producer.produce("after-swarm", b"still-here")
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{broker.port}", "group.id": "after",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe(["after-swarm"])
    deadline = time.monotonic() + 60
    got = None
    while got is None and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            got = msg.value()
    consumer.close()
    assert got == b"still-here"
