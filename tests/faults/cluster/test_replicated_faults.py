"""No acknowledged record is lost, and no committed offset goes back, while a replicated
cluster is failed over and over.

etcd and three brokers in three racks, every broker->etcd and broker->broker link through a
fault proxy; idempotent acks=all producers write to an RF=3, min.insync.replicas=2 topic and a
consumer group reads it and commits. Each cycle injects one seeded fault (kill -9 of the
leader, a follower, the controller or the group coordinator; SIGSTOP past the session;
SIGTERM; a broker cut from etcd, from a peer or from all peers; latency on the leader's links;
a split; an etcd restart; a stalled disk), heals it, waits until every partition (the offsets
topic's too) has a leader and a full ISR and every producer is acknowledged again. Then
everything is read back and checked (``History.violations``). The seed and the schedule are
printed; ``BROOK_FAULT_SEED=<seed>`` replays them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from brook.testing.cluster_workload import ClusterWorkload, WorkloadConfig
from brook.testing.fault_cluster import FaultCluster
from brook.testing.fault_schedule import FAULT_KINDS, run_cluster_faults


def _seed() -> int:
    env = os.environ.get("BROOK_FAULT_SEED")
    return int(env) if env else int.from_bytes(os.urandom(4))


def _run(work: Path, cycles: int, kinds: Sequence[str] = FAULT_KINDS,
         min_insync_replicas: int = 2) -> None:
    seed = _seed()
    run = run_cluster_faults(work, seed, cycles, kinds,
                             workload_config=WorkloadConfig(
                                 min_insync_replicas=min_insync_replicas),
                             warmup_timeout=30)
    history = run.history
    print(f"fault run seed {seed}: {history.summary()}")
    problems = history.violations()
    assert not problems, f"seed {seed}: {len(problems)} violations:\n" + "\n".join(problems[:40])
    assert history.acked, "nothing was acknowledged"
    assert history.commits_acked, "no commit was acknowledged"
    assert history.stalled_cycles == 0, \
        f"seed {seed}: producers got no acknowledgement after the cluster settled"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fault_cycles_with_min_insync_1(tmp_path: Path) -> None:
    """The same run, short, with min.insync.replicas=1: what the cluster must already survive
    with a leader's copy alone (a killed broker's log outlives it) — the machinery end to end."""
    _run(tmp_path, 3, kinds=("kill_leader", "pause", "peer_cut", "etcd_cut"),
         min_insync_replicas=1)


@pytest.mark.timeout(420)
def test_replicated_cluster_survives_10_fault_cycles(tmp_path: Path) -> None:
    _run(tmp_path, 10)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_replicated_cluster_survives_100_fault_cycles(tmp_path: Path) -> None:
    _run(tmp_path, 100)


@pytest.mark.timeout(240)
def test_the_checker_finds_acknowledged_records_the_cluster_lost(tmp_path: Path) -> None:
    """The whole pipeline catches a real loss: after a workload ran, one partition's log is cut
    in half on every replica behind the cluster's back; the final read must then miss
    acknowledged records and the checker must say so."""
    config = WorkloadConfig(partitions=2, consumers=1, min_insync_replicas=1)
    cluster = FaultCluster(tmp_path)
    try:
        cluster.start()
        workload = ClusterWorkload(cluster.bootstrap, seed=1, config=config)
        workload.create_topic()
        cluster.wait_settled([config.topic])
        workload.start()
        assert workload.wait_progress(30) == [] and workload.wait_consuming(60)
        time.sleep(1)
        workload.stop()
        assert not workload.history.conflicts and not workload.history.commit_problems
        for n in cluster.brokers:
            assert cluster.terminate(n) == 0
        for n, broker in cluster.brokers.items():
            for segment in (broker.data_dir / f"{config.topic}-0").glob("*.log"):
                os.truncate(segment, segment.stat().st_size // 2)
        FaultCluster._each(cluster.brokers, cluster.start_broker)
        cluster.wait_settled([config.topic])
        problems = workload.read_back().violations()
    finally:
        cluster.stop()
    lost = [p for p in problems if "acknowledged" in p and f"('{config.topic}', 0)" in p]
    assert lost, problems[:10]
    assert not [p for p in problems if f"('{config.topic}', 1)" in p], problems[:10]
