"""DescribeTopicPartitions, DescribeProducers, DescribeLogDirs and ElectLeaders, driven through
real broker services (see ``test_handlers_services``): the answers Kafka's admin tools read."""

from __future__ import annotations

from pathlib import Path

from brook.broker.handlers import (
    describe_log_dirs,
    describe_producers,
    describe_topic_partitions,
    elect_leaders,
    produce,
)
from brook.metadata.controller.replication_control import TopicSpec
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_log_dirs import DescribeLogDirsRequest
from brook.protocol.messages.describe_producers import DescribeProducersRequest
from brook.protocol.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from brook.protocol.messages.elect_leaders import ElectLeadersRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from tests.unit.broker.test_handlers_services import Setup, _produce, _run

DTP = DescribeTopicPartitionsRequest


async def _topics(s: Setup, **partitions: int) -> None:
    await s.start()
    await s.services.controller.create_topics(
        [TopicSpec(name, num_partitions=n) for name, n in partitions.items()], False)


def _page(topics: list[str], limit: int, cursor: tuple[str, int] | None = None) -> DTP:
    return DTP(topics=[DTP.TopicRequest(t) for t in topics], response_partition_limit=limit,
               cursor=None if cursor is None else DTP.Cursor(*cursor))


def test_describe_topic_partitions_pages_by_partition_with_a_cursor(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _topics(s, a=3, b=2, c=1)
        r = await s.call(describe_topic_partitions, _page([], 2000))
        assert [(t.name, len(t.partitions)) for t in r.topics] == [("a", 3), ("b", 2), ("c", 1)]
        assert r.next_cursor is None
        p = r.topics[0].partitions[0]
        assert (p.leader_id, p.replica_nodes, p.isr_nodes) == (1, [1], [1])
        # Empty ELR lists, not null: the tools print "Elr: " as against Kafka, not "N/A".
        assert (p.eligible_leader_replicas, p.last_known_elr, p.offline_replicas) == ([], [], [])

        first = await s.call(describe_topic_partitions, _page(["c", "a", "b"], 2))
        assert [(t.name, [p.partition_index for p in t.partitions]) for t in first.topics] == [
            ("a", [0, 1])]
        assert first.next_cursor is not None
        assert (first.next_cursor.topic_name, first.next_cursor.partition_index) == ("a", 2)
        second = await s.call(describe_topic_partitions, _page(["c", "a", "b"], 3, ("a", 2)))
        assert [(t.name, [p.partition_index for p in t.partitions]) for t in second.topics] == [
            ("a", [2]), ("b", [0, 1])]
        assert second.next_cursor is not None
        assert (second.next_cursor.topic_name, second.next_cursor.partition_index) == ("c", 0)
        last = await s.call(describe_topic_partitions, _page(["c", "a", "b"], 3, ("c", 0)))
        assert [t.name for t in last.topics] == ["c"] and last.next_cursor is None
    _run(tmp_path, body)


def test_describe_topic_partitions_errors(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _topics(s, a=1)
        r = await s.call(describe_topic_partitions, _page(["a", "missing", "bad/name"], 10))
        codes = {t.name: t.error_code for t in r.topics}
        assert codes == {"a": ErrorCode.NONE, "missing": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                         "bad/name": ErrorCode.INVALID_TOPIC_EXCEPTION}
        # The cursor topic must be among the named topics, and its partition valid.
        for bad in (_page(["a"], 10, ("b", 0)), _page(["a"], 10, ("a", -1))):
            r = await s.call(describe_topic_partitions, bad)
            assert [(t.name, t.error_code) for t in r.topics] == [("a", ErrorCode.INVALID_REQUEST)]
        # A limit of 0 or less still makes progress: one partition per page.
        r = await s.call(describe_topic_partitions, _page(["a"], 0))
        assert len(r.topics[0].partitions) == 1
    _run(tmp_path, body)


def test_describe_producers_lists_the_idempotent_producers_of_a_leader(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _topics(s, t=1)
        batch = build_batch([(b"k", b"v%d" % i, [], 5_000 + i) for i in range(3)],
                            producer_id=42, producer_epoch=7, base_sequence=0)
        idem = ProduceRequest(acks=-1, timeout_ms=1000, topic_data=[
            ProduceRequest.TopicProduceData("t", [
                ProduceRequest.PartitionProduceData(0, memoryview(batch))])])
        produced = await s.call(produce, idem)
        assert produced.responses[0].partition_responses[0].error_code == ErrorCode.NONE
        await s.call(produce, _produce("t", 0, 2))  # not idempotent: no producer state
        r = await s.call(describe_producers, DescribeProducersRequest(topics=[
            DescribeProducersRequest.TopicRequest("t", [0, 1]),
            DescribeProducersRequest.TopicRequest("missing", [0])]))
        p0, p1 = r.topics[0].partitions
        assert p0.error_code == ErrorCode.NONE
        assert [(x.producer_id, x.producer_epoch, x.last_sequence, x.last_timestamp,
                 x.current_txn_start_offset) for x in p0.active_producers] == [
            (42, 7, 2, 5_002, -1)]
        assert p1.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        assert r.topics[1].partitions[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    _run(tmp_path, body)


def test_describe_log_dirs_reports_partition_sizes_per_directory(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _topics(s, t=2, u=1)
        await s.call(produce, _produce("t", 1, 4))
        everything = await s.call(describe_log_dirs, DescribeLogDirsRequest(topics=None))
        assert everything.error_code == ErrorCode.NONE
        (result,) = everything.results
        assert result.error_code == ErrorCode.NONE
        assert result.log_dir == str((tmp_path / "data").resolve())
        assert result.total_bytes > 0 and 0 <= result.usable_bytes <= result.total_bytes
        sizes = {(t.name, p.partition_index): p.partition_size
                 for t in result.topics for p in t.partitions}
        log = s.services.replica_manager.log_manager.get_log("t", 1)
        assert log is not None
        assert sizes == {("t", 0): 0, ("t", 1): log.size_bytes, ("u", 0): 0}
        assert log.size_bytes > 0
        some = await s.call(describe_log_dirs, DescribeLogDirsRequest(topics=[
            DescribeLogDirsRequest.DescribableLogDirTopic("t", [1, 9]),
            DescribeLogDirsRequest.DescribableLogDirTopic("missing", [0])]))
        assert [(t.name, [p.partition_index for p in t.partitions])
                for t in some.results[0].topics] == [("t", [1])]
        v3 = await s.call(describe_log_dirs, DescribeLogDirsRequest(topics=None), version=3)
        assert (v3.results[0].total_bytes, v3.results[0].usable_bytes) == (-1, -1)
    _run(tmp_path, body)


def _elect(election: int, parts: dict[str, list[int]] | None) -> ElectLeadersRequest:
    return ElectLeadersRequest(election_type=election, timeout_ms=1000, topic_partitions=None
                               if parts is None else [ElectLeadersRequest.TopicPartitions(t, p)
                                                      for t, p in parts.items()])


def test_elect_leaders_answers_election_not_needed_as_kafka(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _topics(s, t=2)
        for election in (elect_leaders.PREFERRED, elect_leaders.UNCLEAN):
            r = await s.call(elect_leaders, _elect(election, {"t": [0, 1, 5], "missing": [0]}))
            assert r.error_code == ErrorCode.NONE
            got = {(t.topic, p.partition_id): p.error_code
                   for t in r.replica_election_results for p in t.partition_result}
            assert got == {("t", 0): ErrorCode.ELECTION_NOT_NEEDED,
                           ("t", 1): ErrorCode.ELECTION_NOT_NEEDED,
                           ("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                           ("missing", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
        # All partitions: those that need no election are left out, as Kafka does.
        every = await s.call(elect_leaders, _elect(elect_leaders.PREFERRED, None))
        assert [(t.topic, t.partition_result) for t in every.replica_election_results] == [
            ("t", [])]
        odd = await s.call(elect_leaders, _elect(7, {"t": [0]}))
        assert odd.error_code == ErrorCode.INVALID_REQUEST
        assert odd.replica_election_results[0].partition_result[0].error_code == (
            ErrorCode.INVALID_REQUEST)
    _run(tmp_path, body)


def test_broker_heartbeat_on_a_single_node_hands_nothing_over(tmp_path: Path) -> None:
    """A stray BrokerHeartbeat with want_shut_down must not take a single node's partitions
    offline: there is nobody to hand them to, so it may stop, and nothing changes."""
    from brook.broker.handlers import broker_heartbeat
    from brook.protocol.messages.broker_heartbeat import BrokerHeartbeatRequest

    async def body(s: Setup) -> None:
        await _topics(s, t=2)
        before = s.services.image.topics.by_name["t"].partitions
        r = await s.call(broker_heartbeat, BrokerHeartbeatRequest(
            broker_id=1, broker_epoch=-1, want_shut_down=True))
        assert (r.error_code, r.should_shut_down, r.is_fenced) == (ErrorCode.NONE, True, False)
        status = await s.call(broker_heartbeat, BrokerHeartbeatRequest(broker_id=7))
        assert (status.is_fenced, status.should_shut_down) == (True, False)
        assert s.services.image.topics.by_name["t"].partitions == before
        assert all(p.leader == 1 for p in before.values())
    _run(tmp_path, body)


def test_broker_only_apis_are_refused_off_the_inter_broker_listener(tmp_path: Path) -> None:
    """AlterPartition and a controlled shutdown's BrokerHeartbeat arrive from brokers on
    inter.broker.listener.name; on any other listener (where clients connect) they are
    refused, so a client cannot shrink an ISR or move a broker's leaderships."""
    from brook.broker.handlers import alter_partition, broker_heartbeat
    from brook.protocol.messages.alter_partition import AlterPartitionRequest
    from brook.protocol.messages.broker_heartbeat import BrokerHeartbeatRequest

    async def body(s: Setup) -> None:
        await _topics(s, t=1)
        before = s.services.image.topics.by_name["t"].partitions
        r = await s.call(broker_heartbeat, BrokerHeartbeatRequest(
            broker_id=1, broker_epoch=1, want_shut_down=True), listener="CLIENTS")
        assert (r.error_code, r.should_shut_down) == (
            ErrorCode.CLUSTER_AUTHORIZATION_FAILED, False)
        a = await s.call(alter_partition, AlterPartitionRequest(broker_id=1, broker_epoch=1),
                         listener="CLIENTS")
        assert a.error_code == ErrorCode.CLUSTER_AUTHORIZATION_FAILED
        assert s.services.image.topics.by_name["t"].partitions == before
    _run(tmp_path, body)
