"""flush.messages=1 through a real broker and a real client: the produce response is written to
the socket only after the fdatasync of the segment holding the records has returned.

``strace`` follows the broker's threads and records, in order, the segment writes
(``pwrite64``), the fsyncs and the writes to TCP sockets; each produce is acknowledged before
the next is sent, so after every segment write the first response written must come after a
completed ``fdatasync`` of that partition's segment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from tests.support.ck import TIMEOUT, Rec, consume, create_topic, produce

pytestmark = pytest.mark.timeout(120)

_CALL = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


def _events(trace: str, partition_dir: str) -> list[str]:
    """'append', 'synced' and 'respond' in the order the broker made them."""
    out: list[str] = []
    pending: dict[str, str] = {}  # pid -> what an unfinished fdatasync was syncing
    for line in trace.splitlines():
        m = _CALL.match(line)
        if m is None:
            continue
        pid, resumed, call, rest = m.groups()
        if resumed == "fdatasync":
            if pending.pop(pid, "") == "segment" and rest.rstrip().endswith("= 0"):
                out.append("synced")
            continue
        segment = f"{partition_dir}/" in rest and ".log>" in rest
        if call == "pwrite64" and segment:
            out.append("append")
        elif call == "fdatasync" and segment:
            if "<unfinished ...>" in rest:
                pending[pid] = "segment"
            elif rest.rstrip().endswith("= 0"):
                out.append("synced")
        elif call in ("write", "writev", "sendmsg", "sendto") and ("<TCP" in rest or "<socket:" in rest):
            out.append("respond")
    return out


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_produce_is_answered_only_after_the_fsync(broker_factory: Any, tmp_path: Path) -> None:
    broker = broker_factory()
    topic = "fsync-before-ack"
    create_topic(broker.bootstrap, topic, config={"flush.messages": "1"})
    trace_path = tmp_path / "strace.txt"
    assert broker.proc is not None
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-s", "0", "-o", str(trace_path),
         "-e", "trace=pwrite64,fdatasync,write,writev,sendmsg,sendto", "-p", str(broker.proc.pid)],
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)  # attaching to every thread of an idle broker takes milliseconds
        if tracer.poll() is not None:
            pytest.skip(f"strace cannot attach: {tracer.stderr.read().decode()[:200]}")  # type: ignore[union-attr]
        for acks in ("1", "all"):
            p = Producer({"bootstrap.servers": broker.bootstrap, "acks": acks, "linger.ms": 0,
                          "enable.idempotence": False})
            for i in range(5):
                p.produce(topic, value=b"%s-%d" % (acks.encode(), i))
                assert p.flush(TIMEOUT) == 0
    finally:
        tracer.terminate()
        tracer.wait(10)
    events = _events(trace_path.read_text(errors="replace"), f"{topic}-0")
    assert events.count("append") == 10, events
    for i, event in enumerate(events):
        if event != "append":
            continue
        following = events[i + 1 :]
        first_response = following.index("respond")
        assert "synced" in following[:first_response], (
            f"append #{events[: i + 1].count('append')} answered before its fsync: {events}"
        )
    values = [m.value() for m in consume(broker.bootstrap, topic, count=10)]
    assert values == [b"%s-%d" % (a, i) for a in (b"1", b"all") for i in range(5)]


def test_many_in_flight_produces_with_flush_messages_1(broker_factory: Any) -> None:
    broker = broker_factory()
    topic = "fsync-group"
    create_topic(broker.bootstrap, topic, partitions=2, config={"flush.messages": "1"})
    recs = [Rec(value=b"v%d" % i, partition=i % 2) for i in range(2000)]
    placed = produce(broker.bootstrap, topic, recs, acks="all", **{"linger.ms": 0,
                     "batch.num.messages": 10})
    assert sorted(o for p, o in placed if p == 0) == list(range(1000))
    assert len(consume(broker.bootstrap, topic, partition=1, count=1000)) == 1000
    broker.kill()  # acknowledged = fsynced; a kill -9 must not lose any (it never did)
    broker.start()
    assert len(consume(broker.bootstrap, topic, partition=0, count=1000)) == 1000
