"""kill -9 and restart: committed offsets and group metadata are read back from the log."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition

from tests.support.ck import Rec, admin, create_topic, produce, unique_topic
from tests.support.groups import make_member, poll_until

pytestmark = pytest.mark.timeout(90)
TIMEOUT = 20.0


def test_offsets_and_groups_survive_kill_9(broker_factory: Any) -> None:
    b = broker_factory(**{"group.initial.rebalance.delay.ms": "0"})
    topic, group, idle = unique_topic("crash"), unique_topic("crash-g"), unique_topic("idle-g")
    create_topic(b.bootstrap, topic, partitions=2)
    produce(b.bootstrap, topic, [Rec(value=b"v%d" % i, partition=i % 2) for i in range(10)])
    member = make_member("m", b.bootstrap, group, topic, **{"session.timeout.ms": 30000})
    other = make_member("o", b.bootstrap, idle, topic)
    try:
        poll_until([member, other], lambda: len(member.seen) == 10 and len(other.seen) == 10,
                   "both groups read everything")
        poll_until([member, other], lambda: not member.pending and not other.pending,
                   "both groups committed")
        other.consumer.close()
        before = admin(b.bootstrap)
        member_ids = {m.member_id for m in before.describe_consumer_groups(
            [group], request_timeout=TIMEOUT)[group].result(TIMEOUT).members}
        assert len(member_ids) == 1

        b.kill()
        b.start()

        a = admin(b.bootstrap)
        desc = a.describe_consumer_groups([group, idle], request_timeout=TIMEOUT)
        live = desc[group].result(TIMEOUT)
        assert live.state == ConsumerGroupState.STABLE
        assert {m.member_id for m in live.members} == member_ids
        assert desc[idle].result(TIMEOUT).state == ConsumerGroupState.EMPTY
        # The live member carries on in its generation: no rebalance, new records flow.
        assigns = member.assigns
        produce(b.bootstrap, topic, [Rec(value=b"w%d" % i, partition=i % 2) for i in range(4)])
        poll_until([member], lambda: len(member.seen) == 14, "the member reads on after restart")
        assert member.assigns == assigns
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": idle})
        try:
            committed = c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
            assert [tp.offset for tp in committed] == [5, 5]
        finally:
            c.close()
        deadline = time.monotonic() + TIMEOUT
        while not any(g.group_id == idle for g in a.list_consumer_groups(
                request_timeout=TIMEOUT).result(TIMEOUT).valid):
            assert time.monotonic() < deadline
    finally:
        member.consumer.close()
