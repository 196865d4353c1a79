"""A replica fetcher in this process following a real leader broker process: it copies the
leader's log byte for byte, truncates a tail the leader does not have (found with
OffsetForLeaderEpoch), restarts behind a leader log start that DeleteRecords moved
(OFFSET_OUT_OF_RANGE), and waits out a leader that cannot be reached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.handlers import fetch as fetch_handler
from brook.broker.handlers import list_offsets as list_offsets_handler
from brook.broker.handlers import offset_for_leader_epoch as ofle_handler
from brook.broker.inter_broker_client import InterBrokerClient
from brook.env import SYSTEM_CLOCK
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.replication.fetcher import (
    FETCH_VERSION,
    LIST_OFFSETS_VERSION,
    OFFSET_FOR_LEADER_EPOCH_VERSION,
    FetcherConfig,
    ReplicaFetcher,
)
from brook.replication.follower import FetchState, FollowedPartition, truncation_offset
from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_loader import read_partition_metadata
from tests.support.brokers import BrokerProcess, free_port, plain_broker
from tests.support.storage_batches import make_batch

_CONFIG = FetcherConfig(wait_max_ms=100, backoff_ms=100)


@pytest.fixture(name="leader", scope="module")
def fixture_leader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker = plain_broker(tmp_path_factory.mktemp("leader") / "data", node_id=1)
    broker.start()
    yield broker
    broker.stop()


def _create(leader: BrokerProcess, name: str) -> bytes:
    admin = AdminClient({"bootstrap.servers": leader.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=10)[name].result(timeout=20)
    directory = leader.data_dir / f"{name}-0"
    deadline = time.monotonic() + 10
    while (topic_id := read_partition_metadata(directory) if directory.exists() else None) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return topic_id


def _produce(leader: BrokerProcess, name: str, count: int, size: int = 100) -> None:
    producer = Producer({"bootstrap.servers": leader.bootstrap, "linger.ms": 5, "acks": 1})
    for i in range(count):
        producer.produce(name, key=b"k%d" % i, value=bytes([65 + i % 26]) * size)
    assert producer.flush(20) == 0


def _leader_bytes(leader: BrokerProcess, name: str) -> bytes:
    directory = leader.data_dir / f"{name}-0"
    return b"".join(p.read_bytes() for p in sorted(directory.glob("*.log")))


def _follower(tmp_path: Path, topic_id: bytes, name: str) -> Partition:
    plog = Log.open(tmp_path / f"{name}-0", LogConfig.default(), recovery_point=0,
                    log_start_offset=0, clean_shutdown=True, now_ms=SYSTEM_CLOCK.now_ms(),
                    topic_id=topic_id)
    return Partition(TopicPartition(name, 0), topic_id, plog, node_id=2, leader=1,
                     leader_epoch=0, replicas=(1, 2), isr=(1, 2))


def _fetcher(leader_port: int) -> ReplicaFetcher:
    """The follower here is no replica the leader knows (a single broker cannot host a second
    one), so it fetches with replica id -1: the leader answers it as any reader, up to its high
    watermark (its log end, with one replica), without ``diverging_epoch`` — the leader a
    follower meets before it serves replica fetches. The cluster tests (tests/e2e/cluster/
    test_replication.py) fetch as real replicas."""
    fetcher = ReplicaFetcher(-1, 1, _CONFIG, SYSTEM_CLOCK, InterBrokerClient, lambda: -1)
    fetcher.set_endpoint("127.0.0.1", leader_port)
    return fetcher


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


def _own_bytes(part: Partition) -> bytes:
    part.log.flush()
    return b"".join(s.log.path.read_bytes() for s in part.log.segments)


def test_versions_are_ones_the_handlers_serve() -> None:
    assert FETCH_VERSION == fetch_handler.MAX_VERSION
    assert ofle_handler.MIN_VERSION <= OFFSET_FOR_LEADER_EPOCH_VERSION <= ofle_handler.MAX_VERSION
    assert list_offsets_handler.MIN_VERSION <= LIST_OFFSETS_VERSION <= list_offsets_handler.MAX_VERSION


def test_the_follower_copies_the_leaders_log_byte_for_byte(
    leader: BrokerProcess, tmp_path: Path
) -> None:
    topic_id = _create(leader, "copy")
    _produce(leader, "copy", 300)
    part = _follower(tmp_path, topic_id, "copy")

    async def main() -> None:
        fetcher = _fetcher(leader.port)
        fetcher.add(FollowedPartition.start(part, 0))
        fetcher.start()
        try:
            await _until(lambda: part.log.log_end_offset == 300)
            _produce(leader, "copy", 50)  # the long poll wakes for new data
            await _until(lambda: part.log.log_end_offset == 350)
            await _until(lambda: part.high_watermark == 350)
        finally:
            await fetcher.stop()

    asyncio.run(main())
    assert _own_bytes(part) == _leader_bytes(leader, "copy")
    assert part.log.leader_epoch_cache.latest_epoch == 0


@pytest.mark.parametrize("validate_first", [True, False], ids=["offset-for-leader-epoch",
                                                                "offset-out-of-range"])
def test_a_tail_past_the_leaders_end_is_truncated(
    leader: BrokerProcess, tmp_path: Path, validate_first: bool
) -> None:
    """Found before the first fetch (OffsetForLeaderEpoch: the leader's latest epoch ends at
    its log end), or by the fetch itself (OFFSET_OUT_OF_RANGE, then ListOffsets)."""
    name = f"tail-{validate_first}".lower()
    topic_id = _create(leader, name)
    _produce(leader, name, 20)
    part = _follower(tmp_path, topic_id, name)

    async def copy_then_diverge() -> None:
        fetcher = _fetcher(leader.port)
        fetcher.add(FollowedPartition.start(part, 0))
        fetcher.start()
        await _until(lambda: part.log.log_end_offset == 20)
        await fetcher.stop()
        # Records only this replica holds (it led epoch 0 and wrote them, unreplicated).
        part.log.append_as_leader(memoryview(make_batch(5, value_size=7)), 0, 1_000)
        assert part.log.log_end_offset == 25
        restarted = FollowedPartition.start(part, 0)
        assert restarted.state is FetchState.TRUNCATING
        if not validate_first:
            restarted.state = FetchState.FETCHING
        fetcher = _fetcher(leader.port)
        fetcher.add(restarted)
        fetcher.start()
        try:
            await _until(lambda: part.log.log_end_offset == 20
                         and restarted.state is FetchState.FETCHING)
            _produce(leader, name, 10)  # the leader's own offsets 20..29
            await _until(lambda: part.log.log_end_offset == 30)
        finally:
            await fetcher.stop()

    asyncio.run(copy_then_diverge())
    assert _own_bytes(part) == _leader_bytes(leader, name)


def test_a_follower_behind_the_leaders_log_start_restarts_there(
    leader: BrokerProcess, tmp_path: Path
) -> None:
    topic_id = _create(leader, "trimmed")
    _produce(leader, "trimmed", 40)
    admin = AdminClient({"bootstrap.servers": leader.bootstrap})
    done = admin.delete_records([CkTopicPartition("trimmed", 0, 25)])
    next(iter(done.values())).result(timeout=20)
    part = _follower(tmp_path, topic_id, "trimmed")

    async def main() -> None:
        fetcher = _fetcher(leader.port)
        fetcher.add(FollowedPartition.start(part, 0))
        fetcher.start()
        try:
            await _until(lambda: part.log.log_end_offset == 40)
        finally:
            await fetcher.stop()

    asyncio.run(main())
    assert part.log.log_start_offset >= 25
    assert part.log.read(part.log.log_start_offset, 1 << 20, 40, True).chunks


def test_an_unreachable_leader_is_retried_until_it_answers(
    leader: BrokerProcess, tmp_path: Path
) -> None:
    topic_id = _create(leader, "later")
    _produce(leader, "later", 5)
    part = _follower(tmp_path, topic_id, "later")

    async def main() -> None:
        fetcher = _fetcher(free_port())  # nobody listens there
        state = FollowedPartition.start(part, 0)
        fetcher.add(state)
        fetcher.start()
        try:
            await _until(lambda: state.delayed_until > 0)
            assert part.log.log_end_offset == 0
            fetcher.set_endpoint("127.0.0.1", leader.port)  # the leader re-registered
            await _until(lambda: part.log.log_end_offset == 5)
        finally:
            await fetcher.stop()

    asyncio.run(main())


def test_truncation_offsets_follow_kafkas_rules(tmp_path: Path) -> None:
    part = _follower(tmp_path, b"\x01" * 16, "rules")
    plog = part.log
    plog.append_as_leader(memoryview(make_batch(5)), 1, 1_000)   # epoch 1: 0..4
    plog.append_as_leader(memoryview(make_batch(5)), 3, 1_000)   # epoch 3: 5..9
    state = FollowedPartition.start(part, 4)
    # The leader has our latest epoch, ending at 7: truncate there.
    assert truncation_offset(state, 3, 7) == (7, True)
    # The leader's epoch 3 ends past our end: nothing to cut.
    assert truncation_offset(state, 3, 12) == (10, True)
    # The leader answers epoch 2, which we never had: cut to where our largest epoch below it
    # ends (epoch 1, at 5), then ask again.
    assert truncation_offset(state, 2, 6) == (5, False)
    # The leader knows no epoch at or below ours: keep the log (the fetch settles the rest).
    assert truncation_offset(state, -1, -1) == (10, True)
    # An epoch older than any we hold: ours end where our first one starts (Kafka's cache).
    assert truncation_offset(state, 0, 3) == (0, True)


def test_a_diverging_epoch_in_a_fetch_answer_truncates(tmp_path: Path) -> None:
    """KIP-320: a leader that finds ``last_fetched_epoch`` diverging answers
    ``diverging_epoch`` instead of records; the follower truncates by the same rule and
    appends nothing from that answer."""
    part = _follower(tmp_path, b"\x02" * 16, "div")
    plog = part.log
    plog.append_as_leader(memoryview(make_batch(5)), 1, 1_000)  # epoch 1: 0..4
    for _ in range(5):  # epoch 3: 5..9, one record per batch
        plog.append_as_leader(memoryview(make_batch(1)), 3, 1_000)
    data = FetchResponse.PartitionData
    ignored = make_batch(2, base_offset=10, leader_epoch=4)

    async def main() -> None:
        fetcher = _fetcher(free_port())
        state = FollowedPartition.start(part, 4)
        state.state = FetchState.FETCHING
        fetcher.add(state)
        # The leader's epoch 3 ended at 8: offsets 8 and 9 go.
        await fetcher._apply(state, data(diverging_epoch=FetchResponse.EpochEndOffset(
            epoch=3, end_offset=8), high_watermark=8, records=bytes(ignored)), [], [])
        assert plog.log_end_offset == 8 and state.fetch_offset == 8
        assert state.state is FetchState.FETCHING
        # The leader's largest epoch at or below ours is 2, which this log never had: cut to
        # where our epoch below it ends (epoch 1, at 5), then ask the leader again.
        await fetcher._apply(state, data(diverging_epoch=FetchResponse.EpochEndOffset(
            epoch=2, end_offset=7), high_watermark=7), [], [])
        assert plog.log_end_offset == 5 and state.state is FetchState.TRUNCATING

    asyncio.run(main())


def test_a_diverging_epoch_at_the_log_end_drops_the_epoch_that_wrote_nothing(
    tmp_path: Path,
) -> None:
    """This replica led epoch 2 without writing, then followed a leader that never had
    epoch 2: the leader's answer (epoch 1 ends at our log end) must leave epoch 1 as the last
    fetched epoch, or every following fetch is answered diverging again."""
    part = _follower(tmp_path, b"\x03" * 16, "empty-epoch")
    part.log.append_as_leader(memoryview(make_batch(5)), 1, 1_000)
    part.log.leader_epoch_cache.assign(2, 5)

    async def main() -> None:
        fetcher = _fetcher(free_port())
        state = FollowedPartition.start(part, 3)
        state.state = FetchState.FETCHING
        fetcher.add(state)
        assert state.last_fetched_epoch == 2
        await fetcher._apply(state, FetchResponse.PartitionData(
            diverging_epoch=FetchResponse.EpochEndOffset(epoch=1, end_offset=5),
            high_watermark=5), [], [])
        assert state.last_fetched_epoch == 1 and part.log.log_end_offset == 5

    asyncio.run(main())


def test_a_follower_whose_fsync_failed_reports_no_unflushed_offset(
    leader: BrokerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flush.messages=1 on the follower: a fetch offset tells the leader the records below it
    are on disk here. Once the fsync of fetched records fails, no fetch may report them."""
    topic_id = _create(leader, "unflushed")
    _produce(leader, "unflushed", 20)
    plog = Log.open(tmp_path / "unflushed-0", LogConfig.from_props({"flush.messages": "1"}),
                    recovery_point=0, log_start_offset=0, clean_shutdown=True,
                    now_ms=SYSTEM_CLOCK.now_ms(), topic_id=topic_id)
    part = Partition(TopicPartition("unflushed", 0), topic_id, plog, node_id=2, leader=1,
                     leader_epoch=0, replicas=(1, 2), isr=(1, 2))

    def failing_flush(up_to: int | None = None, now_ms: int | None = None) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(plog, "flush", failing_flush)
    reported: list[int] = []

    async def main() -> None:
        fetcher = _fetcher(leader.port)
        send = fetcher._send

        async def spy(request, version, response_type):  # type: ignore[no-untyped-def]
            if isinstance(request, FetchRequest):
                reported.extend(p.fetch_offset for t in request.topics for p in t.partitions)
            return await send(request, version, response_type)

        monkeypatch.setattr(fetcher, "_send", spy)
        state = FollowedPartition.start(part, 0)
        fetcher.add(state)
        fetcher.start()
        try:
            await _until(lambda: state.failed)
            _produce(leader, "unflushed", 5)
            await asyncio.sleep(0.5)  # several fetch rounds, were it still fetching
        finally:
            await fetcher.stop()
        # Restarted by new metadata, it still does not fetch: the log's flusher failed.
        assert FollowedPartition.start(part, 0).failed

    asyncio.run(main())
    assert plog.log_end_offset == 20 and plog.recovery_point == 0
    assert reported and all(offset <= plog.recovery_point for offset in reported)
