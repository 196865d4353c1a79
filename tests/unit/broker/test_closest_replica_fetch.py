"""Fetching from the closest replica (KIP-392) through the Fetch handler, over real parts: a
replica manager on a temporary directory and a controller on a local metadata log, with
brokers 2 and 3 registered in racks and played by Fetch requests naming them.

On a leader: a consumer naming its rack is sent to a caught-up in-sync follower there
(``preferred_read_replica``, no records, answered at once). On a follower: consumers' fetches
from v11 on are served up to its high watermark, checked against the leader epoch, and their
long poll ends when the leader's answer moves the high watermark."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from brook.broker.handlers import fetch, produce
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec
from brook.metadata.controller.replication_control import TopicSpec
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.replication.follower import FetchState, FollowedPartition, follow_leader_offsets
from brook.replication.replica_manager import ReplicaManager
from brook.replication.replica_selector import (
    RackAwareReplicaSelector,
    preferred_read_replica,
)
from tests.support.storage_batches import make_batch
from tests.unit.broker.test_handlers_services import Setup, _produce

TOPIC = "near"
RACKS = {1: "az1", 2: "az2", 3: "az1"}


async def _start(s: Setup, assignment: list[int]) -> bytes:
    s.serving = True
    for b, rack in RACKS.items():
        await s.controller.register_broker(
            b, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9090 + b, 0)], rack)
    rm = s.services.replica_manager
    rm.alter_partition.send = s.services.controller.alter_partition
    rm.replica_selector = RackAwareReplicaSelector()
    [created] = await s.services.controller.create_topics(
        [TopicSpec(TOPIC, assignments={0: assignment})], False)
    assert not isinstance(created, Exception)
    return s.services.image.topics.by_name[TOPIC].topic_id


async def _fetch(s: Setup, topic_id: bytes, offset: int, *, replica: int = -1, rack: str = "",
                 version: int = 17, current_leader_epoch: int = -1,
                 max_wait_ms: int = 0) -> FetchResponse.PartitionData:
    partition = FetchRequest.FetchPartition(
        partition=0, fetch_offset=offset, partition_max_bytes=1 << 20,
        current_leader_epoch=current_leader_epoch if version >= 9 else -1)
    request = FetchRequest(
        replica_id=replica if version < 15 else -1,
        replica_state=FetchRequest.ReplicaState(replica_id=replica, replica_epoch=-1),
        max_wait_ms=max_wait_ms, min_bytes=1, rack_id=rack,
        topics=[FetchRequest.FetchTopic(topic=TOPIC, topic_id=topic_id,
                                        partitions=[partition])])
    response = await s.call(fetch, request, version)
    return response.responses[0].partitions[0]


def _run(tmp_path: Path, body: object) -> None:
    async def main() -> None:
        s = Setup(tmp_path)
        try:
            await body(s)  # type: ignore[operator]
        finally:
            await s.close()
    asyncio.run(main())


def test_the_leader_sends_a_racks_consumer_to_its_in_sync_follower(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        tid = await _start(s, [1, 2, 3])
        acked = asyncio.ensure_future(s.call(produce, _produce(TOPIC, 0, 3)))
        await asyncio.sleep(0.05)
        for replica in (2, 3):
            await _fetch(s, tid, 0, replica=replica)
            await _fetch(s, tid, 3, replica=replica)
        response = await asyncio.wait_for(acked, 5)
        assert response.responses[0].partition_responses[0].error_code == ErrorCode.NONE

        started = time.monotonic()
        sent = await _fetch(s, tid, 0, rack="az2", max_wait_ms=5000)
        assert time.monotonic() - started < 2  # a redirection is answered at once
        assert sent.preferred_read_replica == 2 and not sent.records
        assert sent.error_code == ErrorCode.NONE and sent.high_watermark == 3
        for rack, version in (("az1", 17), ("", 17), ("az2", 10)):  # leader's rack, none, old
            read = await _fetch(s, tid, 0, rack=rack, version=version)
            assert read.preferred_read_replica == -1 and read.records, (rack, version)

        # Only in-sync followers that hold the fetch offset are proposed.
        part = s.services.replica_manager.get_partition(TOPIC, 0)
        assert part is not None
        image, now = s.services.image, s.services.clock.now_ms()
        selector = RackAwareReplicaSelector()
        assert preferred_read_replica(selector, part, image, "PLAINTEXT", "az2", 3, now) == 2
        assert preferred_read_replica(selector, part, image, "OTHER", "az2", 3, now) == -1
        part.remote[2].log_start_offset = 2
        assert preferred_read_replica(selector, part, image, "PLAINTEXT", "az2", 1, now) == -1
        part.remote[2].log_start_offset = 0
        part.isr = (1, 3)
        assert preferred_read_replica(selector, part, image, "PLAINTEXT", "az2", 3, now) == -1
    _run(tmp_path, body)


def test_a_follower_serves_consumers_up_to_its_high_watermark(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        tid = await _start(s, [2, 1, 3])  # broker 2 leads; this broker follows
        part = s.services.replica_manager.get_partition(TOPIC, 0)
        assert part is not None and not part.is_leader
        epoch = part.leader_epoch

        old = await _fetch(s, tid, 0, version=10)
        assert old.error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER  # before KIP-392
        assert (await _fetch(s, tid, 0, current_leader_epoch=epoch + 1)).error_code == \
            ErrorCode.UNKNOWN_LEADER_EPOCH
        assert (await _fetch(s, tid, 7)).error_code == ErrorCode.OFFSET_OUT_OF_RANGE

        # The leader's records arrive, not yet below the high watermark: nothing to read,
        # and the long poll ends when the leader's next answer moves it.
        part.log.append_as_follower(memoryview(make_batch(3, leader_epoch=epoch)),
                                    s.services.clock.now_ms())
        state = FollowedPartition(part.tp, tid, part, epoch, 3, FetchState.FETCHING)
        follow_leader_offsets(state, 0, 0)
        empty = await _fetch(s, tid, 0, current_leader_epoch=epoch)
        assert empty.error_code == ErrorCode.NONE and not empty.records
        assert empty.high_watermark == 0
        started = time.monotonic()
        waiting = asyncio.ensure_future(_fetch(s, tid, 0, max_wait_ms=10_000))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        follow_leader_offsets(state, 3, 0)
        served = await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 5
        assert served.error_code == ErrorCode.NONE and served.high_watermark == 3
        assert served.records and served.preferred_read_replica == -1
    _run(tmp_path, body)



def test_a_follower_installed_on_a_log_starts_below_it(tmp_path: Path) -> None:
    """A replica manager opening a follower's log that holds data (a restart) cannot know
    which of it the cluster committed: its high watermark starts at the log start, and only
    the leader's answer raises it, so consumers it serves never read uncommitted records."""
    async def body(s: Setup) -> None:
        tid = await _start(s, [2, 1, 3])
        rm = s.services.replica_manager
        part = rm.get_partition(TOPIC, 0)
        assert part is not None
        part.log.append_as_follower(memoryview(make_batch(3, leader_epoch=part.leader_epoch)),
                                    s.services.clock.now_ms())
        restarted = ReplicaManager(1, s.logs, dict(s.config.props))
        restarted.apply_image(s.services.image)
        again = restarted.get_partition(TOPIC, 0)
        assert again is not None and not again.is_leader and again.log is part.log
        assert again.log.log_end_offset == 3 and again.high_watermark == 0
        s.services.replica_manager = restarted
        read = await _fetch(s, tid, 0)
        assert read.error_code == ErrorCode.NONE and not read.records
        follow_leader_offsets(
            FollowedPartition(again.tp, tid, again, again.leader_epoch, 3, FetchState.FETCHING),
            3, 0)
        read = await _fetch(s, tid, 0)
        assert read.high_watermark == 3 and read.records
        s.services.replica_manager = rm
    _run(tmp_path, body)


def test_consumers_of_partitions_not_hosted_here_are_sent_away(tmp_path: Path) -> None:
    async def body(s: Setup) -> None:
        await _start(s, [2, 3])  # the cluster has it; this broker holds no replica
        tid = s.services.image.topics.by_name[TOPIC].topic_id
        assert (await _fetch(s, tid, 0)).error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
        request = FetchRequest(max_wait_ms=0, min_bytes=1, topics=[FetchRequest.FetchTopic(
            topic="nowhere", partitions=[FetchRequest.FetchPartition(
                partition=0, fetch_offset=0, partition_max_bytes=1024)])])
        response = await s.call(fetch, request, 12)
        assert response.responses[0].partitions[0].error_code == \
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    _run(tmp_path, body)
