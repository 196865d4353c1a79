"""confluent-kafka (librdkafka) consumer groups against a live broker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from tests.support.ck import Rec, create_topic, produce, unique_topic
from tests.support.groups import Member, balanced, make_member, poll_until

pytestmark = pytest.mark.timeout(90)
TIMEOUT = 30.0


def fill(bootstrap: str, topic: str, partitions: int, per_partition: int, start: int = 0) -> None:
    produce(bootstrap, topic, [Rec(value=b"%d-%d" % (p, i), partition=p)
                               for i in range(start, start + per_partition)
                               for p in range(partitions)])


def read_n(c: Consumer, n: int, timeout: float = TIMEOUT) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.1)
        if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
            continue
        assert m.error() is None, m.error()
        out.append(m)
    assert len(out) == n, f"read {len(out)} of {n}"
    return out


def group_consumer(bootstrap: str, group: str, **conf: Any) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "fetch.wait.max.ms": 50, **conf})


def test_consume_commit_close_and_resume(gbootstrap: str) -> None:
    topic, group = unique_topic("ck-resume"), unique_topic("ck-g")
    create_topic(gbootstrap, topic, partitions=3)
    fill(gbootstrap, topic, 3, 4)
    c = group_consumer(gbootstrap, group)
    c.subscribe([topic])
    first = read_n(c, 8)
    for m in first:
        c.commit(message=m, asynchronous=False)
    c.close()
    expected = {p: -1001 for p in range(3)}  # librdkafka's "no committed offset"
    for m in first:
        expected[m.partition()] = max(expected[m.partition()], m.offset() + 1)
    c2 = group_consumer(gbootstrap, group)
    try:
        c2.subscribe([topic])
        rest = read_n(c2, 12 - 8)
        seen = {(m.partition(), m.offset()) for m in first + rest}
        assert len(seen) == 12, "a record was read twice or skipped"
        committed = c2.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        assert {tp.partition: tp.offset for tp in committed} == expected
    finally:
        c2.close()


def test_single_consumer_first_message_within_initial_delay(broker_factory: Any) -> None:
    """The only waiting on the way to the first record is group.initial.rebalance.delay.ms."""
    delay_ms = 1000
    b = broker_factory(**{"group.initial.rebalance.delay.ms": str(delay_ms)})
    topic = unique_topic("ck-latency")
    create_topic(b.bootstrap, topic)
    fill(b.bootstrap, topic, 1, 1)
    # The first group ever creates __consumer_offsets (50 partitions, each fsynced): that is a
    # one-time cost of the broker, not of joining, so a first group pays it untimed.
    warm = group_consumer(b.bootstrap, unique_topic("ck-latency-warm"))
    try:
        warm.subscribe([topic])
        read_n(warm, 1)
    finally:
        warm.close()
    c = group_consumer(b.bootstrap, unique_topic("ck-latency-g"))
    try:
        start = time.monotonic()
        c.subscribe([topic])
        read_n(c, 1)
        elapsed_ms = (time.monotonic() - start) * 1000
        print(f"join-to-first-message {elapsed_ms:.0f} ms with a {delay_ms} ms initial delay")
        assert elapsed_ms < delay_ms + 700, elapsed_ms
    finally:
        c.close()


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_members_join_and_leave_reading_everything_once(gbootstrap: str, strategy: str) -> None:
    topic, group = unique_topic(f"ck-{strategy}"), unique_topic("ck-rebal")
    create_topic(gbootstrap, topic, partitions=6)
    fill(gbootstrap, topic, 6, 20)
    conf = {"partition.assignment.strategy": strategy}
    a = make_member("a", gbootstrap, group, topic, **conf)
    b = make_member("b", gbootstrap, group, topic, **conf)
    members: list[Member] = [a, b]
    try:
        poll_until(members, balanced(members, 6), "two members share six partitions")
        fill(gbootstrap, topic, 6, 20, start=20)
        c = make_member("c", gbootstrap, group, topic, **conf)
        members.append(c)
        poll_until(members, balanced(members, 6), "three members share six partitions")
        assert all(len(m.owned()) == 2 for m in members), [m.owned() for m in members]
        fill(gbootstrap, topic, 6, 20, start=40)
        poll_until(members, lambda: sum(len(m.seen) for m in members) >= 6 * 40,
                   "the records so far read")
        a.flush_commits()
        a.consumer.close()
        members.remove(a)
        poll_until(members, balanced(members, 6), "two members take over the leaver's share")
        fill(gbootstrap, topic, 6, 20, start=60)
        everyone = [a, b, c]
        poll_until(members, lambda: len({s for m in everyone for s in m.seen}) >= 6 * 80,
                   "every record read")
        seen = [s for m in everyone for s in m.seen]
        assert len(seen) == len(set(seen)) == 6 * 80, "a record was read twice"
    finally:
        for m in members:
            m.consumer.close()


def test_session_timeout_expels_a_silent_member(gbootstrap: str) -> None:
    import signal
    import subprocess
    import sys

    topic, group = unique_topic("ck-silent"), unique_topic("ck-silent-g")
    create_topic(gbootstrap, topic, partitions=4)
    script = (
        "import sys, time\n"
        "from confluent_kafka import Consumer\n"
        "c = Consumer({'bootstrap.servers': sys.argv[1], 'group.id': sys.argv[2],\n"
        "              'session.timeout.ms': 1500, 'heartbeat.interval.ms': 200})\n"
        "c.subscribe([sys.argv[3]])\n"
        "while True:\n"
        "    c.poll(0.1)\n"
        "    if c.assignment(): print('assigned', flush=True)\n"
    )
    silent = subprocess.Popen([sys.executable, "-c", script, gbootstrap, group, topic],
                              stdout=subprocess.PIPE)
    survivor = make_member("survivor", gbootstrap, group, topic, **{"session.timeout.ms": 6000})
    try:
        poll_until([survivor], lambda: len(survivor.owned()) == 2,
                   "the survivor shares the partitions with the other process")
        silent.send_signal(signal.SIGKILL)  # no LeaveGroup: only the session can expire it
        silent.wait(10)
        killed_at = time.monotonic()
        poll_until([survivor], lambda: len(survivor.owned()) == 4,
                   "the survivor owns every partition after the session timeout")
        assert time.monotonic() - killed_at < 1.5 + 5
    finally:
        if silent.poll() is None:
            silent.kill()
        survivor.consumer.close()


def test_static_member_restart_keeps_its_partitions_without_rebalance(gbootstrap: str) -> None:
    topic, group = unique_topic("ck-static"), unique_topic("ck-static-g")
    create_topic(gbootstrap, topic, partitions=4)
    static = {"session.timeout.ms": 6000}
    a = make_member("a", gbootstrap, group, topic, **{"group.instance.id": "a", **static})
    b = make_member("b", gbootstrap, group, topic, **{"group.instance.id": "b", **static})
    members = [a, b]
    try:
        poll_until(members, balanced(members, 4), "two static members share four partitions")
        b_owned = b.owned()
        a_rebalances = (a.assigns, a.revokes)
        b.consumer.close()  # a static member leaves nothing behind: its session holds its place
        members = [a]
        b2 = make_member("b2", gbootstrap, group, topic, **{"group.instance.id": "b", **static})
        members = [a, b2]
        poll_until(members, lambda: b2.owned() == b_owned,
                   "the restarted static member gets its partitions back")
        for _ in range(20):
            a.poll_once()
        assert (a.assigns, a.revokes) == a_rebalances, "the other member saw a rebalance"
    finally:
        for m in members:
            m.consumer.close()
