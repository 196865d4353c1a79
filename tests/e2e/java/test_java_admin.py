"""The Java AdminClient (kafka-clients 4.3.1) against brook: every call brook serves gives
Kafka's answer, every call it does not serve fails at once with the error Kafka's client
shows for an API the broker lacks — never a hang.

``tests/java/programs/JAdmin.java`` (served calls) and ``JAdminUnserved.java`` print one JSON
line per call; the answers expected here are the ones Apache Kafka 4.3.1 gives to the same
program (the slow test checks that against the reference broker), except where
:data:`DIFFERENCES` says why brook's differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.brokers import BrokerProcess
from tests.support.java_programs import run_json
from tests.support.kafka_reference import KafkaBroker

pytestmark = pytest.mark.timeout(240)

OK = "ok"
SERVED: dict[str, Any] = {
    "createTopics.validateOnly": (OK, False),
    "createTopics": (OK, {"partitions": 3, "replicationFactor": 1, "retention.ms": "3600000"}),
    "createTopics.exists": "TopicExistsException",
    "createTopics.badReplication": "InvalidReplicationFactorException",
    "createTopics.badConfig": "InvalidConfigurationException",
    "createTopics.assignment": (OK, [1, 1, 1]),
    "createTopics.badAssignment": "InvalidReplicaAssignmentException",
    "createPartitions.badAssignment": "InvalidReplicaAssignmentException",
    "listTopics": (OK, ["{p}-topic"]),
    "describeTopics": (OK, {"name": "{p}-topic", "internal": False, "partitions": [
        {"partition": i, "leader": 1, "replicas": [1], "isr": [1]} for i in range(3)]}),
    "describeTopics.authorizedOperations": (OK, [
        "ALTER", "ALTER_CONFIGS", "CREATE", "DELETE", "DESCRIBE", "DESCRIBE_CONFIGS", "READ",
        "WRITE"]),
    "describeTopics.byId": (OK, ["{p}-topic", True, 3]),
    "describeTopics.byUnknownId": "UnknownTopicIdException",
    "describeTopics.unknown": "UnknownTopicOrPartitionException",
    "createPartitions": (OK, 4),
    "createPartitions.decrease": "InvalidPartitionsException",
    "describeConfigs.topic": (OK, {"retention.ms": ["3600000", "DYNAMIC_TOPIC_CONFIG"],
                                   "segment.bytes": ["1073741824", "DEFAULT_CONFIG"]}),
    "describeConfigs.broker": (OK, ["1", "DEFAULT_CONFIG"]),
    "incrementalAlterConfigs": (OK, {"retention.ms": ["7200000", "DYNAMIC_TOPIC_CONFIG"],
                                     "cleanup.policy": "delete,compact"}),
    "incrementalAlterConfigs.badValue": "InvalidConfigurationException",
    "describeCluster": (OK, {"controller": 1, "nodes": 1, "authorizedOperations": [
        "ALTER", "ALTER_CONFIGS", "CLUSTER_ACTION", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS",
        "IDEMPOTENT_WRITE"]}),
    "describeFeatures": (OK, {}),
    "listOffsets": (OK, {"earliest": [0, -1], "earliestLocal": [0, -1], "latest": [10, -1],
                         "forTimestamp1004": [4, 1004], "maxTimestamp": [7, 5000],
                         "latestTiered": [-1, -1]}),
    "deleteRecords": (OK, {"lowWatermark": 3, "earliest": 3}),
    "deleteRecords.beyondEnd": "OffsetOutOfRangeException",
    "describeConsumerGroups.stable": (OK, {
        "simple": False, "coordinator": 1, "type": "Classic", "state": "Stable",
        "assignor": "range", "members": [["consumer-{p}-group-1", 4]]}),
    "listGroups.consumer": (OK, [["{p}-group", "Classic", "consumer", "Empty"]]),
    "listGroups.all": (OK, ["{p}-group"]),
    "describeConsumerGroups.empty": (OK, {"members": 0, "state": "Empty"}),
    "describeConsumerGroups.unknown": (OK, {"members": 0, "state": "Dead"}),
    "describeClassicGroups": (OK, "Empty"),
    "listConsumerGroupOffsets": (OK, {"{p}-topic-0": [5, "five"]}),
    "alterConsumerGroupOffsets": (OK, {"{p}-topic-0": [5, "five"], "{p}-topic-1": [0, ""]}),
    "deleteConsumerGroupOffsets": (OK, {"{p}-topic-0": [5, "five"]}),
    "removeMembersFromConsumerGroup.static": (OK, ["Stable", ["static-1"], "Empty", 0]),
    "removeMembersFromConsumerGroup.unknown": "UnknownMemberIdException",
    "deleteConsumerGroups": (OK, False),
    "deleteConsumerGroups.unknown": "GroupIdNotFoundException",
    "deleteTopics": (OK, True),
    "deleteTopics.byId": (OK, True),
    "deleteTopics.byUnknownId": "UnknownTopicIdException",
    "deleteTopics.unknown": "UnknownTopicOrPartitionException",
}
"""Each served call: ``(OK, result)`` or the class of the exception it fails with."""

DIFFERENCES: dict[str, tuple[Any, str]] = {
    "describeFeatures": (
        (OK, "finalized and supported features"),
        "brook reports no features in ApiVersions (it has no feature levels to finalize)"),
    "describeConsumerGroups.unknown": (
        "GroupIdNotFoundException",
        "Kafka answers through ConsumerGroupDescribe (KIP-848) or DescribeGroups v6; brook "
        "serves DescribeGroups v5, where an unknown group is Dead with no members"),
}
"""Where Kafka 4.3.1's answer differs from brook's, and why."""

UNSERVED = [
    "describeAcls", "createAcls", "deleteAcls", "describeClientQuotas", "alterClientQuotas",
    "describeUserScramCredentials", "alterUserScramCredentials", "createDelegationToken",
    "describeDelegationToken", "renewDelegationToken", "expireDelegationToken",
    "alterReplicaLogDirs",
    "listTransactions", "describeTransactions", "abortTransaction", "fenceProducers",
    "describeMetadataQuorum", "updateFeatures", "unregisterBroker", "describeShareGroups",
    "listShareGroupOffsets", "alterShareGroupOffsets", "deleteShareGroupOffsets",
    "describeStreamsGroups", "listConfigResources", "addRaftVoter", "removeRaftVoter",
    "forceTerminateTransaction",
]
"""Calls whose API brook does not serve: each fails with UnsupportedVersionException."""


def _fill(value: Any, prefix: str) -> Any:
    if isinstance(value, str):
        return value.replace("{p}", prefix)
    if isinstance(value, list):
        return [_fill(v, prefix) for v in value]
    if isinstance(value, dict):
        return {_fill(k, prefix): _fill(v, prefix) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_fill(v, prefix) for v in value)
    return value


def _answers(lines: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """Each call's answer in the form of :data:`SERVED`, without what differs run to run."""
    out: dict[str, Any] = {}
    for line in lines:
        if not line["ok"]:
            out[line["call"]] = line["error"]
            continue
        result = line["result"]
        if line["call"] == "createTopics":
            result = {k: v for k, v in result.items() if k != "topicId"}
        elif line["call"] == "describeTopics":
            result = {k: v for k, v in result.items() if k != "topicId"}
        elif line["call"] == "describeCluster":
            result = {"controller": result["controller"], "nodes": len(result["nodes"]),
                      "authorizedOperations": result["authorizedOperations"]}
        elif line["call"] == "listTopics":
            result = [t for t in result if t.startswith(prefix)]
        out[line["call"]] = (OK, result)
    return out


def test_served_admin_calls_answer_as_kafka(broker: BrokerProcess) -> None:
    lines = run_json("JAdmin", broker.bootstrap, "adm1")
    assert _answers(lines, "adm1") == _fill(SERVED, "adm1")
    slow = [(line["call"], line["ms"]) for line in lines if line["ms"] > 15_000]
    assert not slow, slow


def test_unserved_admin_calls_fail_at_once_with_unsupported_version(
    broker: BrokerProcess,
) -> None:
    lines = run_json("JAdminUnserved", broker.bootstrap, "adm2")
    by_call = {line["call"]: line for line in lines}
    for call in UNSERVED:
        line = by_call[call]
        assert (line["ok"], line.get("error")) == (False, "UnsupportedVersionException"), line
        assert line["ms"] < 10_000, line  # an answer, not a retry loop until the timeout
    # Served: the controller records reassignments. Nothing is in progress, and a move of
    # a partition onto the replicas it has completes at once.
    for call in ("listPartitionReassignments", "alterPartitionReassignments"):
        assert by_call[call]["ok"], by_call[call]
    # What Kafka also answers for a group type nobody uses: nothing listed, nothing to delete.
    assert by_call["listGroups.share"]["result"] == 0
    assert by_call["listGroups.streams"]["result"] == 0
    assert by_call["deleteShareGroups"]["error"] == "GroupIdNotFoundException"
    # A streams group's offsets go through the classic offset APIs, as on Kafka.
    for call in ("alterStreamsGroupOffsets", "deleteStreamsGroupOffsets", "deleteStreamsGroups"):
        assert (by_call[call]["ok"], by_call[call]["result"]) == (True, None), by_call[call]
    assert by_call["listStreamsGroupOffsets"]["result"] == {"adm2-streams": {}}
    assert "Broken pipe" not in broker.output() and "Traceback" not in broker.output()


def test_a_transactional_producer_and_a_kip848_consumer_fail_clearly(
    broker: BrokerProcess,
) -> None:
    """Neither feature is served: each client says so within seconds, no hang to its timeout."""
    lines = {line["feature"]: line for line in run_json(
        "JUnservedClients", broker.bootstrap, "unserved-clients")}
    txn = lines["transactions"]
    assert (txn["ok"], txn["error"]) == (False, "KafkaException"), txn
    assert "no transaction coordinator" in txn["message"]
    assert txn["ms"] < 15_000
    kip848 = lines["group.protocol=consumer"]
    assert (kip848["ok"], kip848["error"]) == (False, "UnsupportedVersionException"), kip848
    assert "does not support the new CONSUMER group protocol" in kip848["message"]
    assert kip848["ms"] < 15_000


@pytest.mark.slow
def test_kafka_answers_the_served_calls_as_expected(tmp_path: Path) -> None:
    """The reference: Apache Kafka 4.3.1 gives :data:`SERVED`, but for :data:`DIFFERENCES`."""
    kafka = KafkaBroker(tmp_path / "kafka" / "data")
    kafka.data_dir.mkdir(parents=True)
    kafka.start()
    try:
        answers = _answers(run_json("JAdmin", kafka.bootstrap, "ref"), "ref")
    finally:
        kafka.stop()
    expected = _fill(SERVED, "ref")
    for call in DIFFERENCES:
        assert answers.pop(call) != expected.pop(call), f"{call}: Kafka now agrees with brook"
    assert answers == expected
