"""Which partitions the fetcher manager follows as their registrations change: a new leader
or leader epoch restarts a partition, becoming its leader or losing it stops it, a leader not
yet reachable on the inter-broker listener waits for the image that registers it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType

from brook.env import SYSTEM_CLOCK
from brook.metadata.image import (
    BrokerEndpoint,
    BrokerRegistration,
    ClusterImage,
    MetadataImage,
)
from brook.replication.fetcher import FetcherConfig
from brook.replication.fetcher_manager import ReplicaFetcherManager, fetcher_config, fetcher_index
from brook.replication.partition import Partition, TopicPartition
from brook.storage.log import Log
from brook.storage.log_config import LogConfig


def _image(*brokers: int, listener: str = "REPLICATION") -> MetadataImage:
    regs = {
        b: BrokerRegistration(b, bytes(16), 100 + b,
                              (BrokerEndpoint(listener, "127.0.0.1", 1, 0),), None, False)
        for b in brokers
    }
    return MetadataImage(cluster=ClusterImage(brokers=MappingProxyType(regs)))


def _partition(tmp_path: Path, name: str, leader: int, epoch: int = 0) -> Partition:
    plog = Log.open(tmp_path / f"{name}-0", LogConfig.default(), recovery_point=0,
                    log_start_offset=0, clean_shutdown=True, now_ms=0)
    return Partition(TopicPartition(name, 0), b"\x01" * 16, plog, node_id=1, leader=leader,
                     leader_epoch=epoch, replicas=(1, 2, 3), isr=(1, 2, 3))


def test_partitions_follow_their_registrations(tmp_path: Path) -> None:
    async def main() -> None:
        image = _image(1, 2, 3)
        manager = ReplicaFetcherManager(1, FetcherConfig(), "REPLICATION", SYSTEM_CLOCK,
                                        lambda *a: None, lambda: image)  # type: ignore[arg-type,return-value]
        a = _partition(tmp_path, "a", leader=2)
        b = _partition(tmp_path, "b", leader=1)
        manager.partitions_changed((a, b))
        assert manager.followed == {a.tp: 2}  # this broker leads b
        assert manager.broker_epoch() == 101
        first = manager.fetchers[(2, 0)].states[a.tp]

        a.update_registration(2, 0, a.replicas, (1, 2))  # an ISR change: nothing restarts
        manager.partitions_changed((a,))
        assert manager.fetchers[(2, 0)].states[a.tp] is first

        a.update_registration(2, 1, a.replicas, a.isr)  # a new leader epoch: restart
        manager.partitions_changed((a,))
        assert manager.fetchers[(2, 0)].states[a.tp] is not first
        assert manager.fetchers[(2, 0)].states[a.tp].leader_epoch == 1

        a.update_registration(3, 2, a.replicas, a.isr)  # a new leader
        manager.partitions_changed((a,))
        assert manager.followed == {a.tp: 3}
        assert (2, 0) not in manager.fetchers  # an idle fetcher is stopped

        a.update_registration(1, 3, a.replicas, a.isr)  # this broker leads it now
        manager.partitions_changed((a,))
        assert manager.followed == {}

        a.update_registration(-1, 4, a.replicas, a.isr)  # offline
        manager.partitions_changed((a,))
        assert manager.followed == {}

        a.update_registration(2, 5, a.replicas, a.isr)
        manager.partitions_changed((a,))
        manager.partitions_removed((a.tp,))  # deleted
        assert manager.followed == {}
        await manager.shutdown()
        manager.partitions_changed((a,))  # after shutdown, nothing starts again
        assert manager.followed == {}

    asyncio.run(main())


def test_a_leader_without_the_listener_waits_for_its_registration(tmp_path: Path) -> None:
    async def main() -> None:
        image = _image(1, 2, listener="PLAINTEXT")
        manager = ReplicaFetcherManager(1, FetcherConfig(), "REPLICATION", SYSTEM_CLOCK,
                                        lambda *a: None, lambda: image)  # type: ignore[arg-type,return-value]
        a = _partition(tmp_path, "a", leader=2)
        manager.partitions_changed((a,))
        assert manager.followed == {}
        manager.on_image(_image(1, 2))
        assert manager.followed == {a.tp: 2}
        await manager.shutdown()

    asyncio.run(main())


def test_fetcher_settings_and_spread() -> None:
    values = {"num.replica.fetchers": "3", "replica.fetch.wait.max.ms": "250",
              "replica.fetch.backoff.ms": "10"}
    config = fetcher_config(values)
    assert (config.num_fetchers, config.wait_max_ms, config.backoff_ms) == (3, 250, 10)
    assert config.max_bytes == 1_048_576 and config.response_max_bytes == 10_485_760
    spread = {fetcher_index(TopicPartition("t", i), 3) for i in range(30)}
    assert spread == {0, 1, 2}
