"""The metadata log and the controller election against a real etcd: appends fenced by
leadership, a paused controller that cannot append when it wakes, readers that survive etcd
restarts and compaction."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brook.env.clock import SYSTEM_CLOCK
from brook.raft.etcd_client import EtcdClient, parse_endpoints
from brook.raft.etcd_election import EtcdControllerElection
from brook.raft.etcd_log import EtcdMetadataLog, cluster_prefix
from brook.raft.fenced import MetadataLogError, NotControllerError
from tests.support.brokers import REPO
from tests.support.etcd import EtcdServer


@pytest.fixture(name="etcd")
def fixture_etcd(tmp_path: Path) -> Iterator[EtcdServer]:
    server = EtcdServer(tmp_path / "etcd" / "data")
    server.data_dir.parent.mkdir(parents=True)
    server.start()
    yield server
    server.stop()


def _pair(etcd: EtcdServer, cluster: str, node_id: int,
          ttl_s: int = 3) -> tuple[EtcdClient, EtcdMetadataLog, EtcdControllerElection]:
    client = EtcdClient(parse_endpoints(etcd.endpoint))
    log = EtcdMetadataLog(client, cluster_prefix(cluster), SYSTEM_CLOCK)
    election = EtcdControllerElection(client, log.leader_key, node_id, f"i{node_id}", SYSTEM_CLOCK, ttl_s)
    return client, log, election


async def _collect(log: EtcdMetadataLog, start: int, until: int) -> list[tuple[int, bytes]]:
    out = []
    async for record in log.follow(start):
        out.append(record)
        if record[0] >= until:
            return out
    return out


def test_appends_follow_and_positional_retries(etcd: EtcdServer) -> None:
    async def main() -> None:
        client, log, election = _pair(etcd, "c1", 1)
        leader = await election.campaign()
        assert await log.end_offset() == 0
        assert await log.append(leader, [b"a", b"b", b"c"], 0) == 2
        assert await log.append(leader, [b"d"], 3) == 3
        with pytest.raises(MetadataLogError, match="not 3"):
            await log.append(leader, [b"again"], 3)
        # A reader starting inside a batch gets the rest of it, then what comes later.
        reader = asyncio.get_running_loop().create_task(_collect(log, 1, 4))
        await asyncio.sleep(0.3)
        await log.append(leader, [b"e"], 4)
        assert await asyncio.wait_for(reader, 10) == [(1, b"b"), (2, b"c"), (3, b"d"), (4, b"e")]
        await election.resign()
        await client.close()

    asyncio.run(main())


def test_one_controller_at_a_time_and_resignation_hands_over(etcd: EtcdServer) -> None:
    async def main() -> None:
        c1, log, one = _pair(etcd, "c2", 1)
        c2, _, two = _pair(etcd, "c2", 2)
        first = await one.campaign()
        waiting = asyncio.get_running_loop().create_task(two.campaign())
        await asyncio.sleep(1.5)  # renewals keep node 1 in charge past half its TTL
        assert not waiting.done() and not one.lost()
        await one.resign()
        second = await asyncio.wait_for(waiting, 10)
        assert second.node_id == 2 and second.epoch > first.epoch
        with pytest.raises(NotControllerError):
            await log.append(first, [b"late"], 0)
        assert await log.append(second, [b"ok"], 0) == 0
        await two.resign()
        await c1.close()
        await c2.close()

    asyncio.run(main())


def test_a_paused_controller_cannot_append_when_it_resumes(etcd: EtcdServer) -> None:
    """SIGSTOP the active controller past its lease; another takes over; SIGCONT: the first
    process's very next append (it does not even look at its lease) is refused by etcd."""
    zombie = subprocess.Popen(
        [sys.executable, "-m", "tests.support.etcd_candidate", etcd.endpoint, "c3", "1"],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert zombie.stdout is not None
        assert zombie.stdout.readline().startswith("elected ")
        assert zombie.stdout.readline().startswith("appended ")
        zombie.send_signal(signal.SIGSTOP)

        async def take_over() -> list[bytes]:
            client, log, election = _pair(etcd, "c3", 2)
            started = time.monotonic()
            leader = await asyncio.wait_for(election.campaign(), 30)
            assert time.monotonic() - started >= 1.0  # it waited for the lease to run out
            end = await log.end_offset()
            await log.append(leader, [b"node-2-first"], end)
            zombie.send_signal(signal.SIGCONT)
            assert await asyncio.to_thread(zombie.wait, 30) == 3
            end = await log.end_offset()
            await log.append(leader, [b"node-2-after"], end)
            records = [v for _, v in await _collect(log, 0, end)]
            await election.resign()
            await client.close()
            return records

        records = asyncio.run(take_over())
        rest = zombie.stdout.read()
        assert "fenced" in rest
        # Nothing from node 1 after node 2's first record.
        first_of_two = records.index(b"node-2-first")
        assert all(not r.startswith(b"node-1-") for r in records[first_of_two:])
        assert records[-1] == b"node-2-after"
    finally:
        if zombie.poll() is None:
            zombie.send_signal(signal.SIGCONT)
            zombie.kill()
            zombie.wait()


def test_a_reader_survives_an_etcd_restart_and_a_compaction(etcd: EtcdServer) -> None:
    async def main() -> None:
        client, log, election = _pair(etcd, "c4", 1, ttl_s=10)
        leader = await election.campaign()
        await log.append(leader, [b"r0"], 0)
        reader = asyncio.get_running_loop().create_task(_collect(log, 0, 3))
        await asyncio.sleep(0.3)
        etcd.kill()
        etcd.start()
        # etcd keeps the lease across its own restart; the controller goes on appending.
        for attempt in range(50):
            try:
                await log.append(leader, [b"r1"], 1)
                break
            except MetadataLogError:
                await asyncio.sleep(0.2)
        revision, _ = await client.get(b"/")
        await asyncio.to_thread(subprocess.run, ["etcdctl", "--endpoints", etcd.endpoint,
                                                 "compact", str(revision)], check=True,
                                capture_output=True)
        await log.append(leader, [b"r2", b"r3"], 2)
        got = await asyncio.wait_for(reader, 20)
        assert [v for _, v in got] == [b"r0", b"r1", b"r2", b"r3"]
        await election.resign()
        await client.close()

    asyncio.run(main())


def test_a_reader_reads_a_log_of_batches_near_the_size_limit(etcd: EtcdServer) -> None:
    """Several batches close to the 1 MiB a fenced append may write: one range page of them is
    far more than gRPC's default 4 MiB message, and a reader (a broker starting) must still
    read them all."""
    async def main() -> None:
        client = EtcdClient(parse_endpoints(etcd.endpoint))
        prefix = cluster_prefix("big")
        log = EtcdMetadataLog(client, prefix, SYSTEM_CLOCK)
        election = EtcdControllerElection(client, log.leader_key, 1, "i1", SYSTEM_CLOCK)
        try:
            leader = await election.campaign()
            value = b"x" * 1000
            for i in range(6):
                await log.append(leader, [value] * 1000, i * 1000)
            _, records = await asyncio.wait_for(log.read(0), 30)
            assert len(records) == 6000
            follow = log.follow(0)
            for _ in range(6000):
                await asyncio.wait_for(anext(follow), 30)
            await follow.aclose()
        finally:
            await election.resign()
            await client.close()
    asyncio.run(main())
