"""The replication throttles' parts on a virtual clock: the sampled byte rate (Kafka's
``SimpleRate`` over 11 windows of 1 s), the throttled-replica lists as one broker reads them,
the rates an image gives (own entry, cluster default, unthrottled), and the leader's and
follower's decisions over real partitions on disk."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

import pytest

from brook.metadata.image import RESOURCE_BROKER, ConfigurationsImage, MetadataImage
from brook.replication.partition import Partition, TopicPartition
from brook.replication.replication_quota import (
    ALL_PARTITIONS,
    UNTHROTTLED,
    ReplicationQuota,
    ReplicationQuotas,
    SampledRate,
    should_follower_throttle,
    should_leader_throttle,
    throttled_partitions,
)
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.testing.clock import VirtualClock


def test_the_rate_is_the_sum_over_the_time_since_the_oldest_sample_and_at_least_a_window(
) -> None:
    rate = SampledRate(11, 1.0)
    assert rate.measure(100.0) == 0.0
    rate.record(1000, 100.0)
    assert rate.measure(100.0) == 1000.0  # a first burst is measured over a whole window
    assert rate.measure(100.5) == 1000.0
    assert rate.measure(102.0) == 500.0
    rate.record(1000, 102.0)  # a second sample
    assert rate.measure(104.0) == pytest.approx(2000 / 4)


def test_samples_older_than_every_window_together_are_forgotten() -> None:
    rate = SampledRate(3, 1.0)
    rate.record(300, 0.0)
    rate.record(300, 1.0)
    rate.record(300, 2.0)
    assert rate.measure(2.5) == pytest.approx(900 / 2.5)
    rate.record(300, 3.0)  # the ring wraps: the first sample is reused
    assert rate.measure(3.5) == pytest.approx(900 / 2.5)
    assert rate.measure(10.0) == 0.0  # all expired


def test_the_time_until_the_rate_falls_to_a_bound() -> None:
    rate = SampledRate(11, 1.0)
    rate.record(1000, 0.0)
    assert rate.seconds_until_at_most(2000, 0.0) == 0.0
    wait = rate.seconds_until_at_most(100, 0.0)
    assert wait == pytest.approx(10.0)
    assert rate.measure(wait - 0.01) > 100
    assert rate.measure(wait) <= 100
    rate.record(1000, 0.5)
    assert rate.seconds_until_at_most(100, 0.5) == 11.0  # capped: all will have expired
    assert rate.seconds_until_at_most(0, 0.0) == 11.0  # a zero bound: until all expire


@pytest.mark.parametrize("chunk", [1_000, 64_000, 300_000])
def test_a_reader_that_stops_while_the_quota_is_exceeded_averages_the_bound(chunk: int) -> None:
    """What a throttled catch-up does: take a chunk whenever the quota allows, else wait for
    it. Over a minute it averages the bound, whatever the chunk size (one chunk of slack,
    and 1% for the round trips)."""
    clock = VirtualClock()
    quota = ReplicationQuota("follower", 2, clock)
    quota.update_bound(200_000)
    start, copied = clock.monotonic(), 0
    while clock.monotonic() - start < 60:
        if quota.is_quota_exceeded():
            clock.advance_s(max(quota.seconds_until_within(), 0.01))
            continue
        quota.record(chunk)
        copied += chunk
        clock.advance(5)  # the round trip
    assert 0.99 * 200_000 * 60 - chunk <= copied <= 200_000 * 60 + 2 * chunk


def test_a_broker_keeps_the_pairs_that_name_it() -> None:
    assert throttled_partitions(("0:1", "1:2", "2:1", " 3 : 1"), 1) == {0, 2, 3}
    assert throttled_partitions(("0:1", "1:2"), 3) == frozenset()
    assert throttled_partitions(("*",), 7) is ALL_PARTITIONS
    assert throttled_partitions((), 1) == frozenset()
    assert throttled_partitions(("x:1", "1"), 1) == frozenset()  # never crashes


def _partition(tmp_path: Path, index: int, node_id: int, leader: int,
               isr: tuple[int, ...], **topic: str) -> Partition:
    config = LogConfig.from_props(topic)
    plog = Log.open(tmp_path / f"t-{index}", config, recovery_point=0, log_start_offset=0,
                    clean_shutdown=True, now_ms=0)
    part = Partition(TopicPartition("t", index), b"\x01" * 16, plog, node_id=node_id,
                     leader=leader, leader_epoch=0, replicas=(1, 2, 3), isr=isr)
    part.update_registration(leader, 0, (1, 2, 3), isr, 0, 0)
    return part


def test_the_leader_holds_back_only_a_throttled_follower_outside_the_isr(tmp_path: Path) -> None:
    clock = VirtualClock()
    quota = ReplicationQuota("leader", 1, clock)
    named = _partition(tmp_path, 0, 1, 1, (1, 3),
                       **{"leader.replication.throttled.replicas": "0:1,1:2"})
    other_broker = _partition(tmp_path, 1, 1, 1, (1, 3),
                              **{"leader.replication.throttled.replicas": "0:1,1:2"})
    every = _partition(tmp_path, 2, 1, 1, (1, 3),
                       **{"leader.replication.throttled.replicas": "*"})
    plain = _partition(tmp_path, 3, 1, 1, (1, 3))
    assert quota.is_throttled(named) and quota.is_throttled(every)
    assert not quota.is_throttled(other_broker) and not quota.is_throttled(plain)

    quota.record(10_000_000)  # unthrottled (Long.MAX): never exceeded
    assert not quota.is_quota_exceeded()
    assert not should_leader_throttle(quota, named, 2)
    quota.update_bound(1_000)
    assert quota.is_quota_exceeded()
    assert should_leader_throttle(quota, named, 2)
    assert should_leader_throttle(quota, every, 2)
    assert not should_leader_throttle(quota, named, 3)  # in the ISR
    assert not should_leader_throttle(quota, other_broker, 2)
    assert not should_leader_throttle(quota, plain, 2)
    clock.advance(11_000)  # every sample expired
    assert not quota.is_quota_exceeded()
    assert not should_leader_throttle(quota, named, 2)


def test_the_follower_holds_back_only_a_throttled_partition_it_is_not_in_sync_for(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    quota = ReplicationQuota("follower", 2, clock)
    quota.update_bound(100)
    quota.record(1_000)
    behind = _partition(tmp_path, 0, 2, 1, (1,),
                        **{"follower.replication.throttled.replicas": "0:2"})
    in_sync = _partition(tmp_path, 1, 2, 1, (1, 2),
                         **{"follower.replication.throttled.replicas": "1:2"})
    leader_list_only = _partition(tmp_path, 2, 2, 1, (1,),
                                  **{"leader.replication.throttled.replicas": "2:2"})
    assert should_follower_throttle(quota, behind)
    assert not should_follower_throttle(quota, in_sync)
    assert not should_follower_throttle(quota, leader_list_only)
    clock.advance_s(quota.seconds_until_within())
    assert not should_follower_throttle(quota, behind)


def _image(brokers: dict[str, dict[str, str]]) -> MetadataImage:
    resources = {(RESOURCE_BROKER, name): MappingProxyType(cfg) for name, cfg in brokers.items()}
    return MetadataImage(configs=ConfigurationsImage(MappingProxyType(resources)))


def test_rates_come_from_the_brokers_entry_then_the_cluster_default() -> None:
    quotas = ReplicationQuotas(2, VirtualClock(), {})
    assert quotas.leader.bound == quotas.follower.bound == UNTHROTTLED
    assert not quotas.apply_image(_image({}))
    assert quotas.apply_image(_image({
        "": {"leader.replication.throttled.rate": "500",
             "follower.replication.throttled.rate": "600"},
        "2": {"follower.replication.throttled.rate": "700"},
        "3": {"leader.replication.throttled.rate": "1"},
    }))
    assert (quotas.leader.bound, quotas.follower.bound) == (500, 700)
    assert not quotas.apply_image(_image({"": {"leader.replication.throttled.rate": "500"},
                                          "2": {"follower.replication.throttled.rate": "700"}}))
    # A value no controller would write is skipped, not fatal.
    assert quotas.apply_image(_image({"2": {"leader.replication.throttled.rate": "fast"}}))
    assert (quotas.leader.bound, quotas.follower.bound) == (UNTHROTTLED, UNTHROTTLED)


def test_the_window_settings_come_from_the_broker_properties() -> None:
    clock = VirtualClock()
    quotas = ReplicationQuotas(1, clock, {"replication.quota.window.num": "2",
                                          "replication.quota.window.size.seconds": "5"})
    quotas.leader.update_bound(12)
    quotas.leader.record(100)
    assert quotas.leader.is_quota_exceeded()  # 100 bytes over (at least) one 5 s window
    clock.advance(9_000)
    assert not quotas.leader.is_quota_exceeded()  # 100 over 9 s
    quotas.leader.record(1_000)
    clock.advance(10_000)  # past both windows: all forgotten
    assert quotas.leader.rate.measure(clock.monotonic()) == 0.0


def test_a_long_list_is_parsed_once_per_config_not_on_every_fetch(tmp_path: Path) -> None:
    """A reassignment of a large topic lists thousands of replicas; the check runs for every
    partition of every follower fetch, so it must not walk (or hash) the list each time."""
    pairs = ",".join(f"{p}:{b}" for p in range(10_000) for b in (1, 2, 3))
    part = _partition(tmp_path, 7, 1, 1, (1,), **{"leader.replication.throttled.replicas": pairs})
    quota = ReplicationQuota("leader", 2, VirtualClock())
    started = time.perf_counter()
    for _ in range(20_000):
        assert quota.is_throttled(part)
    # About 10 ms; hashing the 30,000 pairs on each call takes 30 us, 0.6 s in all.
    assert time.perf_counter() - started < 0.25
    narrowed = LogConfig.from_props({"leader.replication.throttled.replicas": "1:2"})
    part.log.update_config(narrowed)  # a new config: parsed again
    assert not quota.is_throttled(part)
