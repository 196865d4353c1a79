"""The leader's replication throttle through the Fetch handler, over real parts (a replica
manager on a temporary directory, a controller on a local metadata log): the rate and the
throttled replicas are set as ``kafka-reassign-partitions.sh --throttle`` sets them, through
the controller, and reach the quota through the metadata image. Brokers 2 and 3 are played by
Fetch requests naming them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from brook.broker.handlers import describe_configs, fetch, produce
from brook.metadata.controller.configuration_control import OP_DELETE, ConfigOp
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.image import RESOURCE_BROKER, RESOURCE_TOPIC
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_configs import DescribeConfigsRequest
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from brook.replication.replication_quota import UNTHROTTLED
from tests.unit.broker.test_handlers_services import Setup

TOPIC = "moving"
RATE = 1_000


async def _start(s: Setup) -> bytes:
    s.serving = True
    for b in (1, 2, 3):
        await s.controller.register_broker(
            b, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9090 + b, 0)], None)
    [created] = await s.services.controller.create_topics(
        [TopicSpec(TOPIC, assignments={0: [1, 2, 3]})], False)
    assert not isinstance(created, Exception)
    batch = build_batch([(b"k", b"v" * 1000, [], 1_000 + i) for i in range(10)])
    produced = await s.call(produce, ProduceRequest(acks=1, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData(TOPIC, [ProduceRequest.PartitionProduceData(
            0, memoryview(batch))])]))
    assert produced.responses[0].partition_responses[0].error_code == ErrorCode.NONE
    return s.services.image.topics.by_name[TOPIC].topic_id


async def _alter(s: Setup, resource_type: int, name: str, key: str, value: str | None) -> None:
    op = ConfigOp(key, value) if value is not None else ConfigOp(key, None, OP_DELETE)
    [error] = await s.services.controller.alter_configs([(resource_type, name, [op])], False,
                                                        True)
    assert error is None, error
    await asyncio.sleep(0.05)  # the image reaches the replica manager


async def _fetch(s: Setup, topic_id: bytes, offset: int, replica: int,
                 max_wait_ms: int = 0) -> FetchResponse.PartitionData:
    request = FetchRequest(
        replica_state=FetchRequest.ReplicaState(replica_id=replica, replica_epoch=-1),
        max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
        topics=[FetchRequest.FetchTopic(topic=TOPIC, topic_id=topic_id, partitions=[
            FetchRequest.FetchPartition(partition=0, fetch_offset=offset,
                                        partition_max_bytes=1 << 20)])])
    response = await s.call(fetch, request, 17)
    data: FetchResponse.PartitionData = response.responses[0].partitions[0]
    assert data.error_code == ErrorCode.NONE, data
    return data


def _size(data: FetchResponse.PartitionData) -> int:
    raw = data.records
    if raw is None:
        return 0
    if isinstance(raw, list):
        return sum(memoryview(c).nbytes for c in raw)
    return memoryview(raw).nbytes


def test_a_follower_outside_the_isr_gets_no_records_while_the_leader_quota_is_exceeded(
    tmp_path: Path,
) -> None:
    async def body(s: Setup) -> None:
        tid = await _start(s)
        rm = s.services.replica_manager
        quota = rm.quotas.leader
        part = rm.get_partition(TOPIC, 0)
        assert part is not None and part.is_leader
        end = part.log.log_end_offset
        # The leader's list names the brokers that send: this one (Kafka filters by own id).
        await _alter(s, RESOURCE_TOPIC, TOPIC, "leader.replication.throttled.replicas", "0:1")
        await _alter(s, RESOURCE_BROKER, "1", "leader.replication.throttled.rate", str(RATE))
        assert quota.bound == RATE
        part.isr = part.maximal_isr = (1, 3)  # broker 2 is catching up

        first = await _fetch(s, tid, 0, replica=2)
        sent = _size(first)
        assert sent > RATE  # not exceeded yet: one answer's worth goes out ...
        assert quota.rate.measure(s.services.clock.monotonic()) > RATE  # ... and counted
        assert quota.is_quota_exceeded()
        held = await _fetch(s, tid, 0, replica=2)
        assert _size(held) == 0 and held.log_start_offset == 0
        started = time.monotonic()
        waited = await _fetch(s, tid, 0, replica=2, max_wait_ms=300)  # no min bytes: waits
        assert _size(waited) == 0 and time.monotonic() - started >= 0.25

        # An in-sync follower is never held back (its bytes still count); consumers neither.
        in_sync = await _fetch(s, tid, 0, replica=3)
        assert _size(in_sync) == sent
        await _fetch(s, tid, end, replica=3)
        assert part.high_watermark == end
        assert _size(await _fetch(s, tid, 0, replica=-1)) == sent

        # A list naming only the follower does not throttle this leader.
        await _alter(s, RESOURCE_TOPIC, TOPIC, "leader.replication.throttled.replicas", "0:2")
        assert quota.is_quota_exceeded()
        assert _size(await _fetch(s, tid, 0, replica=2)) == sent

        # With the list back, deleting the rate lifts the throttle at once.
        await _alter(s, RESOURCE_TOPIC, TOPIC, "leader.replication.throttled.replicas", "*")
        assert _size(await _fetch(s, tid, 0, replica=2)) == 0
        await _alter(s, RESOURCE_BROKER, "1", "leader.replication.throttled.rate", None)
        assert quota.bound == UNTHROTTLED
        assert _size(await _fetch(s, tid, 0, replica=2)) == sent

    async def main() -> None:
        s = Setup(tmp_path)
        try:
            await body(s)
        finally:
            await s.close()

    asyncio.run(main())


async def _described_rates(
    s: Setup, broker: str = "1",
) -> dict[str, tuple[str | None, int, list[tuple[str, int]]]]:
    """DescribeConfigs of this broker (or the cluster default, ""): each throttle rate's
    value, source and synonyms."""
    request = DescribeConfigsRequest(resources=[DescribeConfigsRequest.DescribeConfigsResource(
        resource_type=RESOURCE_BROKER, resource_name=broker, configuration_keys=None)],
        include_synonyms=True)
    [result] = (await s.call(describe_configs, request, 4)).results
    assert result.error_code == ErrorCode.NONE
    return {c.name: (c.value, c.config_source, [(y.value, y.source) for y in c.synonyms])
            for c in result.configs if c.name.endswith(".replication.throttled.rate")}


def test_the_cluster_default_rate_applies_until_the_broker_has_its_own_and_verify_clears_them(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _start(s)
        quotas = s.services.replica_manager.quotas
        assert await _described_rates(s) == {}  # unset: not listed
        await _alter(s, RESOURCE_BROKER, "", "follower.replication.throttled.rate", "5000")
        assert (quotas.leader.bound, quotas.follower.bound) == (UNTHROTTLED, 5000)
        await _alter(s, RESOURCE_BROKER, "1", "follower.replication.throttled.rate", "7000")
        await _alter(s, RESOURCE_BROKER, "2", "follower.replication.throttled.rate", "1")
        assert quotas.follower.bound == 7000
        assert await _described_rates(s) == {
            "follower.replication.throttled.rate": ("7000", 2, [("7000", 2), ("5000", 3)])}
        assert await _described_rates(s, "") == {  # kafka-configs --entity-default
            "follower.replication.throttled.rate": ("5000", 3, [("5000", 3)])}
        await _alter(s, RESOURCE_BROKER, "1", "follower.replication.throttled.rate", None)
        assert quotas.follower.bound == 5000
        assert await _described_rates(s) == {
            "follower.replication.throttled.rate": ("5000", 3, [("5000", 3)])}
        await _alter(s, RESOURCE_BROKER, "", "follower.replication.throttled.rate", None)
        assert quotas.follower.bound == UNTHROTTLED
        await _alter(s, RESOURCE_BROKER, "1", "leader.replication.throttled.rate", "9000")
        assert quotas.leader.bound == 9000
        # kafka-reassign-partitions.sh --verify clears every broker-level throttle, the log
        # directory one (which brook never has) included, in one request.
        clear = [ConfigOp(k, None, OP_DELETE) for k in (
            "leader.replication.throttled.rate", "follower.replication.throttled.rate",
            "replica.alter.log.dirs.io.max.bytes.per.second")]
        for broker in ("1", "2"):
            [error] = await s.services.controller.alter_configs(
                [(RESOURCE_BROKER, broker, clear)], False, True)
            assert error is None, error
        await asyncio.sleep(0.05)
        assert (quotas.leader.bound, quotas.follower.bound) == (UNTHROTTLED, UNTHROTTLED)
        assert await _described_rates(s) == {}
        [refused] = await s.services.controller.alter_configs([(RESOURCE_BROKER, "1", [ConfigOp(
            "replica.alter.log.dirs.io.max.bytes.per.second", "1000")])], False, True)
        assert refused is not None and refused.code == ErrorCode.INVALID_REQUEST

    async def main() -> None:
        s = Setup(tmp_path)
        try:
            await body(s)
        finally:
            await s.close()

    asyncio.run(main())
