"""Values written under a cluster's etcd prefix by something other than brook (``etcdctl put``
by mistake or malice): keys that cannot be brook's are skipped, a batch that cannot be decoded
stops the reader loudly instead of leaving it silently stale or a writer waiting forever."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from brook.env.clock import SYSTEM_CLOCK
from brook.metadata.follower import MetadataFollower
from brook.metadata.loader import MetadataLoader
from brook.raft.etcd_brokers import EtcdBrokerRegistry
from brook.raft.etcd_client import EtcdClient, parse_endpoints
from brook.raft.etcd_election import EtcdControllerElection
from brook.raft.etcd_log import EtcdMetadataLog, cluster_prefix
from brook.raft.fenced import MetadataLogError
from tests.support.etcd import EtcdServer, etcd_fixture


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def test_readers_skip_keys_that_are_not_brooks(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        prefix = cluster_prefix("forged")
        log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
        election = EtcdControllerElection(client, log.leader_key, 1, "i1", SYSTEM_CLOCK)
        registry = EtcdBrokerRegistry(client, prefix, SYSTEM_CLOCK, 3)
        try:
            leader = await election.campaign()
            await log.append(leader, [b"a"], 0)
            await client.txn([], [client.put(prefix + b"log/zzz", b"junk"),
                                  client.put(prefix + b"brokers/not-a-number", b"junk")])
            await registry.register(7, b"seven")
            changes = registry.changes()
            assert await asyncio.wait_for(anext(changes), 10) == (7, b"seven")
            _, records = await log.read(0)
            assert records == [(0, b"a")]
            follow = log.follow(0)
            assert await asyncio.wait_for(anext(follow), 10) == (0, b"a")
            await log.append(leader, [b"b"], 1)
            await client.txn([], [client.put(prefix + b"brokers/x", b"junk")])
            await registry.deregister()
            assert await asyncio.wait_for(anext(changes), 10) == (7, None)
            assert await asyncio.wait_for(anext(follow), 10) == (1, b"b")
            await changes.aclose()
            await follow.aclose()
        finally:
            await election.resign()
            await client.close()
    asyncio.run(main())


def test_an_undecodable_batch_fails_the_follower_instead_of_hanging_it(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        prefix = cluster_prefix("garbage")
        log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
        loader = MetadataLoader(None)
        loader.load(records=[])
        follower = MetadataFollower(loader, log.follow)
        follower.start()
        try:
            await client.txn([], [client.put(prefix + b"log/%020d" % 0, b"\xff\xff"),
                                  client.put(prefix + b"log_end", b"1")])
            with pytest.raises(MetadataLogError):
                await asyncio.wait_for(follower.wait_applied(0), 10)
            assert isinstance(follower.failure, MetadataLogError)
        finally:
            await follower.stop()
            await client.close()
    asyncio.run(main())


def test_a_forged_log_end_is_a_metadata_log_error(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        prefix = cluster_prefix("end")
        log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
        try:
            await client.txn([], [client.put(prefix + b"log_end", b"junk")])
            with pytest.raises(MetadataLogError, match="not an offset"):
                await log.end_offset()
        finally:
            await client.close()
    asyncio.run(main())


def test_a_leader_key_written_without_a_lease_does_not_block_the_election(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        prefix = cluster_prefix("stuck")
        log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
        election = EtcdControllerElection(client, log.leader_key, 1, "i1", SYSTEM_CLOCK)
        try:
            await client.txn([], [client.put(log.leader_key, b'{"node_id": 9}')])
            leader = await asyncio.wait_for(election.campaign(), 10)
            assert await log.append(leader, [b"a"], 0) == 0
        finally:
            await election.resign()
            await client.close()
    asyncio.run(main())
