"""Produce with acks=0 gets no response, but a request still holds its frame until it has been
validated and appended: a client that pipelines acks=0 requests faster than the broker can
validate them (large compressed batches are validated in a worker thread, one request of a
connection at a time) must be slowed down, not queued without bound in the broker's memory."""

from __future__ import annotations

import os
import socket
import time

from confluent_kafka.admin import AdminClient, NewTopic

from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from tests.hostile.conftest import MakeBroker
from tests.hostile.hostile_kit import Bystander, encode_request, proc_status

MiB = 1024 * 1024


def _slow_batch() -> bytes:
    """A valid gzip batch of ~1 MiB on the wire that inflates to ~31 MiB: tens of ms of
    decompression to validate it."""
    now = int(time.time() * 1000)
    records = [(b"z%d" % i, b"\x00" * MiB, (), now) for i in range(30)]
    records.append((b"r", os.urandom(MiB), (), now))
    return bytes(build_batch(records, compression=1))


def test_pipelined_acks0_produce_is_bounded(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"queued.max.request.bytes": str(16 * MiB)})
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{broker.port}"})
    admin.create_topics([NewTopic("acks0-backlog", 1, 1, config={
        "max.message.bytes": str(2 * MiB)})])["acks0-backlog"].result(15)
    batch = _slow_batch()
    frames = b"".join(
        encode_request(ProduceRequest(acks=0, timeout_ms=1000, topic_data=[
            ProduceRequest.TopicProduceData(name="acks0-backlog", partition_data=[
                ProduceRequest.PartitionProduceData(index=0, records=batch)])]), 8, cid)
        for cid in range(1, 9))
    base = proc_status(broker.pid)["VmRSS"]
    sock = socket.create_connection(("127.0.0.1", broker.port))
    sock.settimeout(0.2)
    sent = 0
    with Bystander(broker.port) as bystander:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sent < 300 * MiB:
            try:
                sent += sock.send(frames[sent % len(frames):])
            except TimeoutError:
                pass  # the broker stopped reading: the back-pressure this test wants
            except OSError:
                break  # closed: the failed acks=0 produce closes the connection
        peak = proc_status(broker.pid)["VmHWM"] - base
    sock.close()
    print(f"acks=0 backlog: {sent / MiB:.0f} MiB sent in 5 s, peak RSS growth {peak / MiB:.0f} MiB")
    assert peak < 200 * MiB, f"peak RSS grew {peak / MiB:.0f} MiB"
    bystander.check(max_latency=3.0)
