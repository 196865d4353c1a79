"""Broker registrations against a real etcd: a second live broker with a node id already
registered is refused and leaves the first's registration alone; a broker restarted after a
kill -9 waits out its predecessor's session, then registers; a session ended early (a peer saw
the process die) is that incarnation's only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brook.env.clock import SYSTEM_CLOCK
from brook.raft.etcd_brokers import DuplicateBrokerRegistration, EtcdBrokerRegistry
from brook.raft.etcd_client import EtcdClient, parse_endpoints
from brook.raft.etcd_log import cluster_prefix
from tests.support.etcd import EtcdServer, etcd_fixture

PREFIX = cluster_prefix("registry")
TTL_S = 2


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = etcd_fixture(tmp_path)
    yield server
    server.stop()


def test_a_second_live_broker_with_the_same_node_id_is_refused(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        first = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, TTL_S)
        second = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, TTL_S)
        try:
            await first.register(1, b"first")
            with pytest.raises(DuplicateBrokerRegistration):
                await asyncio.wait_for(second.register(1, b"second"), 30)
            _, kv = await client.get(PREFIX + b"brokers/1")
            assert kv is not None and kv.value == b"first"
        finally:
            await first.deregister()
            await second.deregister()
            await client.close()
    asyncio.run(main())


def test_a_restarted_broker_registers_once_its_predecessors_session_lapses(etcd: EtcdServer) -> None:
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        dead = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, TTL_S)
        again = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, TTL_S)
        try:
            await dead.register(1, b"before")
            keeper = dead._keeper  # stop renewing without revoking: a kill -9
            assert keeper is not None
            keeper.cancel()
            started = time.monotonic()
            await asyncio.wait_for(again.register(1, b"after"), 30)
            _, kv = await client.get(PREFIX + b"brokers/1")
            assert kv is not None and kv.value == b"after"
            assert time.monotonic() - started < 2 * TTL_S + 5
        finally:
            await again.deregister()
            await client.close()
    asyncio.run(main())


def test_ending_a_dead_incarnations_session_spares_its_successor(etcd: EtcdServer) -> None:
    """``revoke_holder`` revokes the lease of the key's holder only when the value names the
    incarnation meant: the registration disappears at once (no waiting out the TTL), a
    successor's registration under a new lease is left alone, and a lease already gone is
    answered False without failing the client over."""
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        dead = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, 30)
        successor = EtcdBrokerRegistry(client, PREFIX, SYSTEM_CLOCK, 30)
        key = dead.key(1)
        try:
            await dead.register(1, b"incarnation-a")
            assert not await client.revoke_holder(key, lambda v: v == b"incarnation-b")
            _, kv = await client.get(key)
            assert kv is not None and kv.value == b"incarnation-a"
            lease = kv.lease
            assert await client.revoke_holder(key, lambda v: v == b"incarnation-a")
            _, kv = await client.get(key)
            assert kv is None  # gone now, not in 30 s
            assert not await client.revoke(lease)  # NOT_FOUND: already revoked
            endpoint = client.endpoint
            await asyncio.wait_for(successor.register(1, b"incarnation-b"), 10)
            assert client.endpoint == endpoint
            assert not await client.revoke_holder(key, lambda v: v == b"incarnation-a")
            _, kv = await client.get(key)
            assert kv is not None and kv.value == b"incarnation-b"
        finally:
            await successor.deregister()
            keeper = dead._keeper
            if keeper is not None:
                keeper.cancel()
            await client.close()
    asyncio.run(main())
