"""Three brokers sharing their metadata through a real etcd replicate a topic with replication
factor 3: every replica's log ends up byte-identical to the leader's; a follower killed with
-9 catches up after its restart; a follower holding a tail its leader never had (it was down
while leadership moved to a new epoch) truncates it and copies the new leader's records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from brook.broker.inter_broker_client import InterBrokerClient
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.replication.fetcher import FETCH_VERSION
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_loader import read_partition_metadata
from tests.support.brokers import REPO, BrokerProcess, free_port, plain_broker
from tests.support.etcd import EtcdServer, etcd_fixture
from tests.support.proxy import TcpProxy
from tests.support.storage_batches import make_batch

CLUSTER_ID = "brook-e2e-replication"


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


@pytest.fixture(name="cluster")
def fixture_cluster(tmp_path: Path, etcd: EtcdServer) -> Iterator[dict[int, BrokerProcess]]:
    brokers: dict[int, BrokerProcess] = {}
    try:
        for node_id, rack in ((1, "az1"), (2, "az2"), (3, "az3")):
            b = plain_broker(tmp_path / f"b{node_id}" / "data", node_id=node_id, overrides={
                "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                "broker.rack": rack, "broker.session.timeout.ms": "3000",
                "replica.fetch.backoff.ms": "200",
            })
            b.start()
            brokers[node_id] = b
        yield brokers
    finally:
        for b in brokers.values():
            b.stop()


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.2)


def _bootstrap(cluster: dict[int, BrokerProcess]) -> str:
    return ",".join(b.bootstrap for b in cluster.values() if b.alive())


def _partition(cluster: dict[int, BrokerProcess], topic: str, index: int = 0) -> Any:
    admin = AdminClient({"bootstrap.servers": _bootstrap(cluster), "socket.timeout.ms": 5000})
    return admin.list_topics(topic, timeout=10).topics[topic].partitions[index]


def _create(cluster: dict[int, BrokerProcess], topic: str, partitions: int = 1,
            via: BrokerProcess | None = None) -> None:
    bootstrap = via.bootstrap if via is not None else _bootstrap(cluster)
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    admin.create_topics([NewTopic(topic, partitions, 3)], operation_timeout=10)[topic].result(20)
    for index in range(partitions):
        _eventually(lambda i=index: _partition(cluster, topic, i).leader in cluster)


def _produce(cluster: dict[int, BrokerProcess], topic: str, count: int, tag: str,
             partitions: int = 1) -> None:
    producer = Producer({"bootstrap.servers": _bootstrap(cluster), "acks": "all",
                         "linger.ms": 5, "message.timeout.ms": 30000})
    for i in range(count):
        producer.produce(topic, value=f"{tag}-{i}".encode() * 3, partition=i % partitions)
    assert producer.flush(40) == 0


def _log_bytes(b: BrokerProcess, topic: str, index: int) -> bytes:
    directory = b.data_dir / f"{topic}-{index}"
    return b"".join(p.read_bytes() for p in sorted(directory.glob("*.log")))


def _identical(cluster: dict[int, BrokerProcess], topic: str, index: int = 0) -> bytes:
    """The partition's bytes once every replica holds the same (and something)."""
    def same() -> bytes | None:
        copies = {_log_bytes(b, topic, index) for b in cluster.values()}
        return copies.pop() if len(copies) == 1 and b"" not in copies else None
    return _eventually(same)


def test_every_replica_holds_the_leaders_bytes(cluster: dict[int, BrokerProcess]) -> None:
    _create(cluster, "replicated", partitions=2)
    _produce(cluster, "replicated", 400, "a", partitions=2)
    for index in (0, 1):
        data = _identical(cluster, "replicated", index)
        assert data.count(b"a-1") > 0
    # Consumers still read from the leader only: a follower answers NOT_LEADER_OR_FOLLOWER.
    part = _partition(cluster, "replicated")
    follower = cluster[next(n for n in part.replicas if n != part.leader)]
    topic_id = read_partition_metadata(follower.data_dir / "replicated-0")
    assert topic_id is not None
    request = FetchRequest(max_wait_ms=0, min_bytes=1, topics=[FetchRequest.FetchTopic(
        topic_id=topic_id, partitions=[FetchRequest.FetchPartition(
            partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])

    async def consumer_fetch() -> int:
        client = InterBrokerClient("127.0.0.1", follower.port, "a-consumer")
        try:
            response = await client.send(request, FETCH_VERSION, FetchResponse)
        finally:
            client.close()
        return response.responses[0].partitions[0].error_code

    assert asyncio.run(consumer_fetch()) == ErrorCode.NOT_LEADER_OR_FOLLOWER


def test_a_follower_killed_with_minus_nine_catches_up(cluster: dict[int, BrokerProcess]) -> None:
    _create(cluster, "catchup")
    _produce(cluster, "catchup", 100, "before")
    _identical(cluster, "catchup")
    leader = _partition(cluster, "catchup").leader
    victim = cluster[next(n for n in cluster if n != leader)]
    victim.kill()
    _produce(cluster, "catchup", 200, "while-down")
    victim.start()
    data = _identical(cluster, "catchup")
    assert b"while-down-199" in data


def test_a_tail_the_new_leader_never_had_is_truncated(cluster: dict[int, BrokerProcess]) -> None:
    _create(cluster, "diverged")
    _produce(cluster, "diverged", 10, "common")
    _identical(cluster, "diverged")
    part = _partition(cluster, "diverged")
    leader = cluster[part.leader]
    stale = cluster[next(n for n in part.replicas if n != part.leader)]
    stale.stop()
    # The leader dies and comes back: fenced, then leader again in a new epoch.
    leader.kill()
    _eventually(lambda: _partition(cluster, "diverged").leader == -1)
    leader.start()
    _eventually(lambda: _partition(cluster, "diverged").leader == leader.node_id)
    _produce(cluster, "diverged", 5, "new-epoch")
    # Meanwhile the stopped replica holds records written in the old epoch that no one else has.
    directory = stale.data_dir / "diverged-0"
    plog = Log.open(directory, LogConfig.default(), recovery_point=0, log_start_offset=0,
                    clean_shutdown=False, now_ms=int(time.time() * 1000))
    old_epoch = plog.leader_epoch_cache.latest_epoch
    assert plog.log_end_offset == 10
    plog.append_as_leader(memoryview(make_batch(3, value_size=20)), old_epoch,
                          int(time.time() * 1000))
    plog.close()
    stale.start()
    data = _identical(cluster, "diverged")
    assert b"new-epoch-4" in data and data == _log_bytes(leader, "diverged", 0)


@dataclass
class _TwoListenerBroker(BrokerProcess):
    """A broker with a REPLICATION listener besides PLAINTEXT, advertised at another port."""

    replication_port: int = field(default_factory=free_port)
    advertised_replication_port: int = 0

    def command(self) -> list[str]:
        cmd = super().command()
        listeners = cmd.index("--listeners") + 1
        cmd[listeners] += f",REPLICATION://127.0.0.1:{self.replication_port}"
        advertised = cmd.index("--advertised-listeners") + 1
        cmd[advertised] += f",REPLICATION://127.0.0.1:{self.advertised_replication_port}"
        return cmd


def test_brokers_reach_each_other_on_the_inter_broker_listener(
    tmp_path: Path, etcd: EtcdServer
) -> None:
    """Fetchers and forwarded admin requests use inter.broker.listener.name's advertised
    endpoint (here a proxy in front of the REPLICATION listener), never the clients' one."""
    brokers: dict[int, BrokerProcess] = {}
    proxies: dict[int, TcpProxy] = {}
    try:
        for node_id in (1, 2, 3):
            replication_port = free_port()
            proxy = proxies[node_id] = TcpProxy(replication_port).start()
            b = _TwoListenerBroker(
                tmp_path / f"b{node_id}" / "data", node_id=node_id, warp_clock=False, cwd=REPO,
                replication_port=replication_port, advertised_replication_port=proxy.port,
                overrides={
                    "metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": CLUSTER_ID,
                    "broker.session.timeout.ms": "3000",
                    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
                    "inter.broker.listener.name": "REPLICATION",
                })
            b.start()
            brokers[node_id] = b
        for node_id, b in brokers.items():  # each through its own PLAINTEXT listener
            _create(brokers, f"via-{node_id}", via=b)
        forwarded = [n for n, p in proxies.items() if p.accepted]
        assert forwarded, "admin requests were forwarded to the controller through its proxy"
        _produce(brokers, "via-1", 300, "r")
        _identical(brokers, "via-1")
        leader = _partition(brokers, "via-1").leader
        assert proxies[leader].bytes_down > 300 * 9, proxies[leader].bytes_down
    finally:
        for b in brokers.values():
            b.stop()
        for proxy in proxies.values():
            proxy.stop()
