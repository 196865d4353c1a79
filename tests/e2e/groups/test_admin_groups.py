"""Consumer-group administration: confluent-kafka's AdminClient and kafka-python's admin."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as TP
from kafka.admin import KafkaAdminClient, MemberToRemove
from kafka.structs import TopicPartition as KTP

from tests.support.ck import admin, create_topic, unique_topic
from tests.support.groups import make_member, poll_until

pytestmark = pytest.mark.timeout(90)
TIMEOUT = 20.0


def test_list_describe_offsets_alter_delete(gbootstrap: str) -> None:
    topic, group = unique_topic("adm"), unique_topic("adm-g")
    create_topic(gbootstrap, topic, partitions=2)
    a = admin(gbootstrap)
    member = make_member("m", gbootstrap, group, topic)
    try:
        poll_until([member], lambda: len(member.owned()) == 2, "the member owns both partitions")
        listed = a.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT)
        assert group in {g.group_id for g in listed.valid}
        stable = a.list_consumer_groups(
            request_timeout=TIMEOUT, states={ConsumerGroupState.STABLE}).result(TIMEOUT)
        assert group in {g.group_id for g in stable.valid}
        empty = a.list_consumer_groups(
            request_timeout=TIMEOUT, states={ConsumerGroupState.EMPTY}).result(TIMEOUT)
        assert group not in {g.group_id for g in empty.valid}

        desc = a.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
        assert desc.state == ConsumerGroupState.STABLE
        assert desc.partition_assignor == "range"
        assert len(desc.members) == 1
        assigned = {(tp.topic, tp.partition) for tp in desc.members[0].assignment.topic_partitions}
        assert assigned == {(topic, 0), (topic, 1)}
        assert desc.members[0].host.lstrip("/") == "127.0.0.1"

        deleted = a.delete_consumer_groups([group], request_timeout=TIMEOUT)[group]
        with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
            deleted.result(TIMEOUT)
    finally:
        member.consumer.close()

    # Empty now: an admin may move its offsets, read them back, then delete the group.
    altered = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        group, [TP(topic, 0, 5), TP(topic, 1, 7)])], request_timeout=TIMEOUT)[group]
    assert all(tp.error is None for tp in altered.result(TIMEOUT).topic_partitions)
    fetched = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                            request_timeout=TIMEOUT)[group].result(TIMEOUT)
    assert {(tp.partition, tp.offset) for tp in fetched.topic_partitions} == {(0, 5), (1, 7)}
    desc = a.describe_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    assert desc.state == ConsumerGroupState.EMPTY and not desc.members
    a.delete_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)
    listed = a.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT)
    assert group not in {g.group_id for g in listed.valid}
    fetched = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                            request_timeout=TIMEOUT)[group].result(TIMEOUT)
    assert not fetched.topic_partitions
    with pytest.raises(KafkaException, match="GROUP_ID_NOT_FOUND"):
        a.delete_consumer_groups([group], request_timeout=TIMEOUT)[group].result(TIMEOUT)


def test_kafka_python_delete_offsets_and_remove_members(gbootstrap: str) -> None:
    topic, other, group = unique_topic("kp-adm"), unique_topic("kp-adm-o"), unique_topic("kp-g")
    create_topic(gbootstrap, topic)
    create_topic(gbootstrap, other)
    ka = KafkaAdminClient(bootstrap_servers=gbootstrap, request_timeout_ms=15000)
    member = make_member("static", gbootstrap, group, topic, **{"group.instance.id": "inst-1"})
    try:
        poll_until([member], lambda: len(member.owned()) == 1, "the member owns its partition")
        member.consumer.commit(offsets=[TP(topic, 0, 1), TP(other, 0, 3)], asynchronous=False)
        result: Any = ka.delete_group_offsets(group, [KTP(topic, 0), KTP(other, 0)])
        errors = {tp.topic: getattr(err, "__name__", type(err).__name__)
                  for tp, err in result.items()}
        assert errors == {topic: "GroupSubscribedToTopicError", other: "NoError"}, errors
        offsets = ka.list_group_offsets(group)[group]
        assert {(tp.topic, om.offset) for tp, om in offsets.items()} == {(topic, 1)}

        described = ka.describe_groups([group])[group]
        assert described["group_state"] == "Stable", described
        [m] = described["members"]
        assert m["group_instance_id"] == "inst-1"
        removed = ka.remove_group_members(group, [MemberToRemove(group_instance_id="inst-1")])
        assert [type(e).__name__ if not isinstance(e, type) else e.__name__
                for e in removed.values()] == ["NoError"], removed
        deadline = time.monotonic() + TIMEOUT
        while ka.describe_groups([group])[group]["group_state"] != "Empty":
            member.poll_once()
            assert time.monotonic() < deadline, "removing the static member left a live group"
    finally:
        member.consumer.close()
        ka.close()
