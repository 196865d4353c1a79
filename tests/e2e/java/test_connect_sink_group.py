"""Kafka's own consumer-groups tool against a running brook sink connector: it sees the task's
member owning the partitions, and refuses to reset offsets under it, as it does for Kafka
Connect (the group is not empty)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.connect.conftest import S3Server, fixture_s3, fixture_worker_factory, wait_until
from tests.e2e.connect.test_s3_sink import create_topic, produce, sink_config
from tests.support.java import kafka_script

__all__ = ["fixture_s3", "fixture_worker_factory"]  # the fixtures this module uses


def _committed(bootstrap: str, group: str) -> dict[int, int]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    return {tp.partition: tp.offset for tp in res.result(timeout=30).topic_partitions}


def test_consumer_groups_tool_sees_the_task_and_cannot_reset_under_it(
        bootstrap: str, s3: S3Server, worker_factory: Any) -> None:
    s3.client.create_bucket(Bucket="javagroups")
    topic = f"javagroups-{time.monotonic_ns()}"
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [(p, json.dumps({"i": i}).encode())
                               for i in range(4) for p in range(2)])
    worker = worker_factory(bootstrap)
    status, body = worker.request("PUT", "/connectors/jg-sink/config", sink_config(
        topic, s3, "javagroups", **{"flush.size": "2"}))
    assert status == 201, body
    group = "connect-jg-sink"
    wait_until(lambda: _committed(bootstrap, group) == {0: 4, 1: 4}, 60,
               "both partitions written and committed")

    described = kafka_script("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap,
                             "--describe", "--group", group).stdout
    rows = [line.split() for line in described.splitlines() if line.startswith(group)]
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    assert sorted((r[1], r[2], r[3], r[5]) for r in rows) == [
        (topic, "0", "4", "0"), (topic, "1", "4", "0")], described
    assert {r[-1] for r in rows} == {"connector-consumer-jg-sink-0"}, described
    assert all(r[6] != "-" for r in rows), described  # an owner, not an unowned partition

    reset = kafka_script("kafka-consumer-groups.sh", "--bootstrap-server", bootstrap,
                         "--reset-offsets", "--group", group, "--topic", topic,
                         "--to-earliest", "--execute", check=False)
    out = reset.stdout + reset.stderr
    assert "can only be reset if the group" in out and "inactive" in out, out
    assert _committed(bootstrap, group) == {0: 4, 1: 4}
