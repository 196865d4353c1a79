"""Memory is bounded by configuration, not by what clients claim or send.

A frame header claiming ~100 MB used to make the broker allocate the whole buffer after six
bytes. Now a large frame reserves its claimed size from the ``queued.max.request.bytes`` pool
(muting the connection while the pool is exhausted) and its buffer grows as bytes arrive.
"""

from __future__ import annotations

import struct
import time

import pytest
from confluent_kafka import Producer

from tests.hostile.conftest import MakeBroker
from tests.hostile.hostile_kit import Bystander, closed_by_peer, open_many, proc_status

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024
CLAIM = 100 * MiB - 1  # just under the default socket.request.max.bytes


def test_claimed_100mb_frames_cost_nothing_and_liars_time_out(make_broker: MakeBroker) -> None:
    broker = make_broker(**{"connections.max.idle.ms": "4000"})
    base = proc_status(broker.pid)["VmRSS"]
    with Bystander(broker.port) as bystander:
        liars = open_many(broker.port, 20)
        for s in liars:
            s.sendall(struct.pack(">i", CLAIM) + b"\x00\x00")  # six bytes: size + api key
        time.sleep(1.0)
        grown = proc_status(broker.pid)["VmRSS"] - base
        # A real client's 1 MB produce still gets through beside them.
        producer = Producer({"bootstrap.servers": f"127.0.0.1:{broker.port}",
                             "message.max.bytes": 2 * MiB, "linger.ms": 0})
        delivered: list[object] = []
        producer.produce("big-values", b"x" * 1_000_000,
                         on_delivery=lambda e, m: delivered.append(e))
        assert producer.flush(30) == 0
        assert delivered == [None], [str(e) for e in delivered]
        started = time.monotonic()
        assert all(closed_by_peer(s, 12) for s in liars), "an idle liar was not closed"
        closed_after = time.monotonic() - started
    for s in liars:
        s.close()
    status = proc_status(broker.pid)
    print(f"RSS growth with 20 claimed 100 MB frames: {grown / MiB:.1f} MiB; "
          f"liars closed within {closed_after:.1f}s; peak RSS {status['VmHWM'] / MiB:.0f} MiB; "
          f"bystander worst {bystander.worst:.3f}s over {len(bystander.latencies)} rounds")
    assert grown < 32 * MiB, f"RSS grew {grown / MiB:.0f} MiB for frames that were only claimed"
    bystander.check(max_latency=2.0)
    assert broker.alive()


def test_request_bytes_in_flight_bounded_by_pool(make_broker: MakeBroker) -> None:
    """Ten clients really sending 20 MB frames: only what the pool allows is read at once."""
    broker = make_broker(**{"queued.max.request.bytes": str(32 * MiB),
                            "connections.max.idle.ms": "5000"})
    base = proc_status(broker.pid)["VmRSS"]
    senders = open_many(broker.port, 10)
    chunk = b"\x00" * MiB
    with Bystander(broker.port) as bystander:
        for s in senders:
            s.sendall(struct.pack(">i", 20 * MiB) + b"\x00\x00")
            s.setblocking(False)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # push 10 MB into each as far as the broker reads
            for s in senders:
                try:
                    s.send(chunk[: MiB // 4])
                except (BlockingIOError, OSError):
                    pass
            time.sleep(0.01)
        peak = proc_status(broker.pid)["VmHWM"] - base
    print(f"peak RSS growth with 10 x 20 MB frames in flight, 32 MiB pool: {peak / MiB:.1f} MiB; "
          f"bystander worst {bystander.worst:.3f}s")
    # One 20 MB reservation fits the 32 MiB pool at a time (plus kernel-side buffers).
    assert peak < 64 * MiB, f"peak RSS grew {peak / MiB:.0f} MiB"
    bystander.check(max_latency=2.0)
    for s in senders:
        s.close()
    assert broker.alive()
