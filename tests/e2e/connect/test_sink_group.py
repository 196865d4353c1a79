"""Sink tasks are members of the consumer group ``connect-<connector>``, as in Kafka Connect.

Lag tools see which task owns which partition, the group's assignor splits the partitions
between the connector's tasks, and the broker refuses to delete or reset the group's offsets
while the connector runs (the group is not empty).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from tests.e2e.connect.conftest import S3Server, wait_until
from tests.e2e.connect.test_s3_sink import create_topic, produce, sink_config


def members(bootstrap: str, group: str) -> dict[str, set[tuple[str, int]]] | None:
    """client id -> partitions owned, for a Stable group; None otherwise."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    desc = admin.describe_consumer_groups([group])[group].result(timeout=30)
    if desc.state != ConsumerGroupState.STABLE:
        return None
    return {m.client_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions}
            for m in desc.members}


def split_between(bootstrap: str, group: str, n: int, everything: set[tuple[str, int]]) -> Any:
    found = members(bootstrap, group)
    if found is None or len(found) != n:
        return None
    owned = [tp for parts in found.values() for tp in parts]
    if sorted(owned) != sorted(everything) or any(not p for p in found.values()):
        return None
    return found


def test_two_sink_tasks_are_group_members_that_split_the_partitions(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="members")
    topic = f"members-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 4)
    produce(bootstrap, topic, [(p, json.dumps({"i": i}).encode())
                               for i in range(6) for p in range(4)])
    worker = worker_factory(bootstrap)
    status, body = worker.request("PUT", "/connectors/members-sink/config", sink_config(
        topic, s3, "members", **{"flush.size": "3", "tasks.max": "2"}))
    assert status == 201, body

    group = "connect-members-sink"
    everything = {(topic, p) for p in range(4)}
    found = wait_until(lambda: split_between(bootstrap, group, 2, everything), 60,
                       "two members owning all four partitions between them")
    # Kafka Connect's client ids for a task's consumer.
    assert set(found) == {"connector-consumer-members-sink-0", "connector-consumer-members-sink-1"}
    # Records flow through the members, and their offsets are committed to the group.
    wait_until(lambda: len(s3.keys("members")) == 8, 60, "two objects per partition")

    # Offsets cannot be wiped under a running connector: the group is not empty.
    admin = AdminClient({"bootstrap.servers": bootstrap})
    with pytest.raises(KafkaException, match="NON_EMPTY_GROUP"):
        admin.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=30)

    # Stopping the connector empties the group (its members leave), as in Kafka Connect.
    status, _ = worker.request("PUT", "/connectors/members-sink/stop")
    assert status in (202, 204), status
    wait_until(lambda: admin.describe_consumer_groups([group])[group].result(timeout=30).state
               == ConsumerGroupState.EMPTY, 60, "the group to be empty")


def test_a_task_of_a_regex_connector_takes_a_new_matching_topic(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="regex")
    base = f"rx{time.monotonic_ns()}"
    create_topic(bootstrap, f"{base}-a", 1)
    worker = worker_factory(bootstrap)
    config = sink_config("", s3, "regex", **{"flush.size": "1"})
    del config["topics"]
    config["topics.regex"] = f"{base}-.*"
    status, body = worker.request("PUT", "/connectors/regex-sink/config", config)
    assert status == 201, body
    group = "connect-regex-sink"
    wait_until(lambda: split_between(bootstrap, group, 1, {(f"{base}-a", 0)}), 60,
               "the member owning the first topic")
    create_topic(bootstrap, f"{base}-b", 2)
    create_topic(bootstrap, f"other-{base}-b", 1)  # matches only in part: not taken
    wait_until(lambda: split_between(bootstrap, group, 1, {(f"{base}-a", 0), (f"{base}-b", 0),
                                                           (f"{base}-b", 1)}), 60,
               "the member owning the new matching topic too")


@pytest.mark.parametrize(("java_assignor", "librdkafka_assignor"), [
    ("org.apache.kafka.clients.consumer.RangeAssignor", "range"),
    ("org.apache.kafka.clients.consumer.CooperativeStickyAssignor", "cooperative-sticky"),
])
def test_partitions_taken_by_a_rebalance_are_committed_before_they_are_given_up(
        bootstrap: str, worker_factory: Any, tmp_path: Any, java_assignor: str,
        librdkafka_assignor: str) -> None:
    """Kafka's WorkerSinkTask commits (preCommit, then a synchronous commit) the partitions a
    rebalance revokes, eager or cooperative. With the periodic commit ten minutes away, the offsets of
    what the file sink wrote reach the group when another member joins and the task gives
    partitions up."""
    from confluent_kafka import Consumer, ConsumerGroupTopicPartitions

    topic = f"revoke-{librdkafka_assignor}-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [(p, f"v{i}".encode()) for i in range(5) for p in range(2)])
    out = tmp_path / "revoke.txt"
    worker = worker_factory(bootstrap, **{"file.connectors.enable": "true",
                                          "file.connectors.allowed.dirs": str(tmp_path),
                                          "offset.flush.interval.ms": "600000"})
    name = f"revoke-{librdkafka_assignor}"
    status, body = worker.request("PUT", f"/connectors/{name}/config", {
        "connector.class": "FileStreamSink", "file": str(out), "topics": topic,
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "consumer.override.partition.assignment.strategy": java_assignor})
    assert status == 201, body
    group = f"connect-{name}"
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 10, 60,
               "all ten lines written")
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def committed() -> dict[int, int]:
        res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        return {tp.partition: tp.offset for tp in res.result(timeout=30).topic_partitions
                if tp.offset >= 0}

    assert committed() == {}  # nothing yet: the periodic commit is far away
    other = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False, "session.timeout.ms": 6000,
                      "partition.assignment.strategy": librdkafka_assignor})
    try:
        other.subscribe([topic])
        deadline = time.monotonic() + 60
        while not (other.assignment() and committed()) and time.monotonic() < deadline:
            other.poll(0.5)
        taken = {tp.partition for tp in other.assignment()}
        assert len(taken) == 1
        # Eager: the task gave both partitions up (and got one back); cooperative: only the
        # one that moved. Either way, exactly what was revoked was committed.
        revoked = {0, 1} if librdkafka_assignor == "range" else taken
        assert committed() == {p: 5 for p in revoked}
        # The group now has both members, each with one partition.
        wait_until(lambda: (m := members(bootstrap, group)) is not None and len(m) == 2
                   and all(len(p) == 1 for p in m.values()), 60, "the partitions split")
    finally:
        other.close()
