"""The follower's replication throttle in a real replica fetcher copying from a real leader
broker process. The quota runs on a virtual clock the test moves, so "the quota is exceeded"
lasts exactly as long as the test says: while it is, a partition the topic throttles on this
broker, outside the ISR, is left out of the fetches (its log end stands still) and the bytes
received for it are what the quota recorded; moving the clock lets another share through;
lifting the rate (a new image wakes the fetcher) lets it finish at once. An in-sync replica
is never held back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.inter_broker_client import InterBrokerClient
from brook.env import SYSTEM_CLOCK
from brook.replication.fetcher import FetcherConfig, ReplicaFetcher
from brook.replication.follower import FollowedPartition
from brook.replication.partition import Partition, TopicPartition
from brook.replication.replication_quota import UNTHROTTLED, ReplicationQuota
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_loader import read_partition_metadata
from brook.testing.clock import VirtualClock
from tests.support.brokers import BrokerProcess, plain_broker

RECORDS = 300
RATE = 10_000
_CONFIG = FetcherConfig(wait_max_ms=100, backoff_ms=100, max_bytes=2048)
"""Small answers (about two batches), so the quota has shares to hand out."""


@pytest.fixture(name="leader", scope="module")
def fixture_leader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    broker = plain_broker(tmp_path_factory.mktemp("leader") / "data", node_id=1)
    broker.start()
    yield broker
    broker.stop()


def _topic(leader: BrokerProcess, name: str) -> bytes:
    admin = AdminClient({"bootstrap.servers": leader.bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=10)[name].result(timeout=20)
    directory = leader.data_dir / f"{name}-0"
    deadline = time.monotonic() + 10
    while (topic_id := read_partition_metadata(directory) if directory.exists() else None) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    producer = Producer({"bootstrap.servers": leader.bootstrap, "linger.ms": 5, "acks": 1,
                         "batch.num.messages": 10})
    for i in range(RECORDS):
        producer.produce(name, key=b"k%d" % i, value=bytes([65 + i % 26]) * 100)
    assert producer.flush(20) == 0
    return topic_id


def _follower(tmp_path: Path, topic_id: bytes, name: str, isr: tuple[int, ...]) -> Partition:
    config = LogConfig.from_props({"follower.replication.throttled.replicas": "0:2"})
    plog = Log.open(tmp_path / f"{name}-0", config, recovery_point=0, log_start_offset=0,
                    clean_shutdown=True, now_ms=SYSTEM_CLOCK.now_ms(), topic_id=topic_id)
    return Partition(TopicPartition(name, 0), topic_id, plog, node_id=2, leader=1,
                     leader_epoch=0, replicas=(1, 2), isr=isr)


def _fetcher(leader: BrokerProcess, quota: ReplicationQuota) -> ReplicaFetcher:
    """Replica id -1: a single broker cannot host a second replica, so the leader answers
    this follower as any reader (tests/unit/replication/test_fetcher.py says more)."""
    fetcher = ReplicaFetcher(-1, 1, _CONFIG, SYSTEM_CLOCK, InterBrokerClient, lambda: -1, quota)
    fetcher.set_endpoint("127.0.0.1", leader.port)
    return fetcher


async def _until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def _settled(part: Partition, quota: ReplicationQuota) -> int:
    """The log end once the quota is exceeded and the log end stopped moving for ten
    fetcher back-offs (an answer in flight when the quota filled may still land)."""
    await _until(quota.is_quota_exceeded)
    end = -1
    while end != part.log.log_end_offset:
        end = part.log.log_end_offset
        await asyncio.sleep(10 * _CONFIG.backoff_ms / 1000)
    return end


def _size(part: Partition) -> int:
    return part.log.size_bytes


def test_a_throttled_catch_up_waits_for_its_quota(leader: BrokerProcess, tmp_path: Path) -> None:
    part = _follower(tmp_path, _topic(leader, "held"), "held", isr=(1,))
    clock = VirtualClock()
    quota = ReplicationQuota("follower", 2, clock)
    quota.update_bound(RATE)

    async def main() -> None:
        fetcher = _fetcher(leader, quota)
        fetcher.add(FollowedPartition.start(part, 0))
        fetcher.start()
        try:
            first = await _settled(part, quota)
            assert 0 < first < RECORDS
            copied = _size(part)
            # The time stood still: what went through is one window's worth, and recorded.
            assert RATE < copied <= RATE + 2 * _CONFIG.max_bytes
            assert quota.rate.measure(clock.monotonic()) == copied
            clock.advance_s(quota.seconds_until_within())  # the quota allows again
            second = await _settled(part, quota)
            assert first < second < RECORDS
            assert _size(part) <= 2 * RATE + 2 * _CONFIG.max_bytes
            quota.update_bound(UNTHROTTLED)  # the rate is deleted: the next image wakes it
            fetcher.wake()
            await _until(lambda: part.log.log_end_offset == RECORDS, timeout=5)
        finally:
            await fetcher.stop()

    asyncio.run(main())


def test_an_in_sync_replica_is_never_held_back(leader: BrokerProcess, tmp_path: Path) -> None:
    part = _follower(tmp_path, _topic(leader, "insync"), "insync", isr=(1, 2))
    clock = VirtualClock()
    quota = ReplicationQuota("follower", 2, clock)
    quota.update_bound(RATE)
    quota.record(100 * RATE)  # far past its bound

    async def main() -> None:
        fetcher = _fetcher(leader, quota)
        fetcher.add(FollowedPartition.start(part, 0))
        fetcher.start()
        try:
            await _until(lambda: part.log.log_end_offset == RECORDS)
        finally:
            await fetcher.stop()

    asyncio.run(main())
    # Its bytes still count toward the rate.
    assert quota.rate.measure(clock.monotonic()) == 100 * RATE + _size(part)
