"""Seeded fault schedules for a replicated cluster, and the loop that runs them under load.

A schedule is a list of :class:`Step`, drawn from one seed before the run starts and printed,
so ``BROOK_FAULT_SEED=<seed>`` replays the same decisions (a real machine's timing still
varies). A step names a kind of fault, the partition whose leader (or followers) it aims at,
a number in [0, 1) that picks among candidates, and how long the fault lasts. Which broker
that is gets decided when the step runs, from what the cluster says then (Metadata,
DescribeCluster), and is printed with the step.

Each cycle of :func:`run_schedule`: inject the fault, let the workload run through it, heal
(restart, continue, reconnect), wait until the cluster settles (every broker serves and every
partition has a leader and a full ISR), then wait until every producer is acknowledged again.
A cycle whose producers get nothing after the cluster settled is a *stalled* cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from brook.config.broker import BROKER_CONFIGS
from brook.env import Rng
from brook.testing.cluster_workload import ClusterWorkload, WorkloadConfig
from brook.testing.fault_cluster import ClusterConfig, FaultCluster
from brook.testing.history import History

__all__ = ["FAULT_KINDS", "CycleResult", "FaultRun", "NoProgress", "Step", "make_schedule",
           "run_cluster_faults", "run_schedule", "run_step"]

OFFSETS_TOPIC = "__consumer_offsets"
DEFAULT_SESSION_TIMEOUT_MS = BROKER_CONFIGS.get_int({}, "broker.session.timeout.ms")

FAULT_KINDS = (
    "kill_leader",      # kill -9 the partition's leader, start it again
    "kill_follower",    # kill -9 one of its followers, start it again
    "kill_controller",  # kill -9 the active controller, start it again
    "kill_coordinator",  # kill -9 the consumer group's coordinator, start it again
    "pause",            # SIGSTOP (the leader or the controller) past its session, SIGCONT
    "terminate",        # SIGTERM (controlled shutdown), start again
    "etcd_cut",         # blackhole one broker's link to etcd
    "peer_cut",         # blackhole the leader's links to one peer or to all of them
    "peer_delay",       # 50-500 ms of latency each way on the leader's links to its peers
    "split",            # the leader alone on one side, the others and etcd on the other
    "etcd_restart",     # kill -9 etcd, start it again on the same data
    "disk_stall",       # every write and sync of the leader's disk waits (0.2-1.5 s each)
)


@dataclass(frozen=True)
class Step:
    cycle: int
    kind: str
    partition: int
    pick: float
    """Chooses among candidates: which follower, which peer, leader or controller."""
    hold_s: float
    """How long the fault stays before it is healed (for kills: how long the broker is down)."""

    def describe(self) -> str:
        return (f"cycle {self.cycle}: {self.kind} (partition {self.partition}, "
                f"pick {self.pick:.2f}, hold {self.hold_s:.1f}s)")


def make_schedule(seed: int, cycles: int, partitions: int, session_timeout_s: float,
                  kinds: Sequence[str] = FAULT_KINDS) -> list[Step]:
    """``cycles`` steps from ``seed``: kinds uniformly, durations by kind (a pause always
    outlasts the broker session; a link cut sometimes does)."""
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}")
    rng = Rng(seed)
    steps = []
    for cycle in range(cycles):
        kind = kinds[rng.randint(0, len(kinds) - 1)]
        if kind == "pause":
            hold = session_timeout_s + 1.0 + rng.random() * 2.0
        elif kind in ("etcd_cut", "peer_cut", "peer_delay", "split", "disk_stall"):
            hold = 1.0 + rng.random() * (session_timeout_s + 2.0)
        else:
            hold = 0.2 + rng.random() * 2.0
        steps.append(Step(cycle, kind, rng.randint(0, partitions - 1), rng.random(),
                          round(hold, 2)))
    return steps


@dataclass(frozen=True)
class CycleResult:
    step: Step
    target: str
    settle_s: float
    idle_producers: list[int]


def _choose(pick: float, candidates: Sequence[int]) -> int:
    return candidates[min(int(pick * len(candidates)), len(candidates) - 1)]


def run_step(cluster: FaultCluster, topic: str, step: Step, group: str | None = None,
             log: Callable[[str], None] = print) -> str:
    """Inject ``step``'s fault, hold it, heal; returns what was hit, for the record."""
    state = cluster.partitions(topic)[step.partition]
    everyone = sorted(cluster.brokers)
    leader = state.leader if state.leader in cluster.brokers else _choose(step.pick, everyone)
    kind = step.kind
    if kind.startswith("kill_"):
        if kind == "kill_leader":
            target = leader
        elif kind == "kill_follower":
            target = _choose(step.pick, [r for r in state.replicas if r != leader] or everyone)
        else:
            other = cluster.controller() if kind == "kill_controller" else (
                cluster.coordinator(group) if group is not None else -1)
            target = other if other in cluster.brokers else leader
        log(f"  kill -9 broker {target}")
        cluster.kill(target)
        time.sleep(step.hold_s)
        cluster.start_broker(target)
        return f"broker {target}"
    if kind == "pause":
        target = leader if step.pick < 0.5 else cluster.controller()
        target = target if target in cluster.brokers else leader
        log(f"  SIGSTOP broker {target}")
        cluster.pause(target)
        time.sleep(step.hold_s)
        cluster.resume(target)
        return f"broker {target}"
    if kind == "terminate":
        target = _choose(step.pick, everyone)
        log(f"  SIGTERM broker {target}")
        code = cluster.terminate(target)
        if code != 0:
            log(f"  broker {target} exited with {code} on SIGTERM")
        time.sleep(step.hold_s)
        cluster.start_broker(target)
        return f"broker {target} (exit {code})"
    if kind == "etcd_cut":
        target = leader if step.pick < 0.5 else _choose(step.pick * 2 - 1, everyone)
        cluster.cut_etcd(target)
        time.sleep(step.hold_s)
        cluster.heal()
        return f"broker {target} from etcd"
    if kind == "peer_cut":
        others = [n for n in everyone if n != leader]
        peers = others if step.pick < 0.5 else [_choose(step.pick * 2 - 1, others)]
        cluster.cut_peers(leader, peers)
        time.sleep(step.hold_s)
        cluster.heal()
        return f"broker {leader} from {peers}"
    if kind == "peer_delay":
        delay = 0.05 + step.pick * 0.45
        cluster.slow_peers(leader, delay)
        time.sleep(step.hold_s)
        cluster.heal()
        return f"broker {leader} links to peers ({delay * 1000:.0f} ms each way)"
    if kind == "split":
        cluster.split([leader])
        time.sleep(step.hold_s)
        cluster.heal()
        return f"broker {leader} alone"
    if kind == "disk_stall":
        ms = 200 + int(step.pick * 1300)
        cluster.stall_disk(leader, ms)
        time.sleep(step.hold_s)
        cluster.heal()
        return f"broker {leader} disk ({ms} ms per write or sync)"
    if kind == "etcd_restart":
        cluster.kill_etcd()
        time.sleep(step.hold_s)
        cluster.start_etcd()
        return "etcd"
    raise ValueError(f"unknown fault kind {kind!r}")


def run_schedule(cluster: FaultCluster, workload: ClusterWorkload, steps: Sequence[Step],
                 log: Callable[[str], None] = print, settle_timeout: float = 120.0,
                 progress_timeout: float = 30.0) -> list[CycleResult]:
    """Run every step under the workload; stalled cycles are counted in its history."""
    # The group's offsets live in the offsets topic: its partitions must settle too.
    topics = [workload.config.topic, OFFSETS_TOPIC]
    results = []
    for step in steps:
        log(step.describe())
        target = run_step(cluster, workload.config.topic, step, workload.config.group, log)
        settle = cluster.wait_settled(topics, settle_timeout)
        idle = workload.wait_progress(progress_timeout)
        if idle:
            workload.history.stalled_cycles += 1
        log(f"  hit {target}; settled in {settle:.1f}s; acks {workload.acked()}"
            + (f"; producers {idle} got nothing for {progress_timeout:.0f}s" if idle else ""))
        results.append(CycleResult(step, target, settle, idle))
    return results


class NoProgress(AssertionError):
    """The workload got no acknowledgement (or read nothing) before any fault was injected."""


@dataclass(frozen=True)
class FaultRun:
    seed: int
    schedule: list[Step]
    cycles: list[CycleResult]
    history: History


def run_cluster_faults(work_dir: Path, seed: int, cycles: int,
                       kinds: Sequence[str] = FAULT_KINDS,
                       cluster_config: ClusterConfig = ClusterConfig(),
                       workload_config: WorkloadConfig = WorkloadConfig(),
                       log: Callable[[str], None] = print,
                       warmup_timeout: float = 60.0) -> FaultRun:
    """The whole fault test: a cluster, the workload, ``cycles`` seeded faults, the history.

    Before the first fault every producer must be acknowledged and the consumers must have
    read something (else :class:`NoProgress`: the cluster cannot take the workload at all,
    e.g. acks=all with ``min.insync.replicas`` 2 on partitions nobody replicates). The cluster
    is stopped whatever happens; the broker logs are printed when the run fails.
    """
    session_ms = cluster_config.session_timeout_ms or DEFAULT_SESSION_TIMEOUT_MS
    schedule = make_schedule(seed, cycles, workload_config.partitions, session_ms / 1000, kinds)
    log(f"fault run: seed {seed} (replay with BROOK_FAULT_SEED={seed}), {cycles} cycles:")
    for step in schedule:
        log(f"  {step.describe()}")
    cluster = FaultCluster(work_dir, cluster_config, log)
    ok = False
    try:
        cluster.start()
        workload = ClusterWorkload(cluster.bootstrap, seed, workload_config, log)
        workload.create_topic()
        cluster.wait_settled([workload_config.topic])
        workload.start()
        idle = workload.wait_progress(warmup_timeout)
        if idle or not workload.wait_consuming(warmup_timeout):
            problem = (f"before any fault: producers {idle} got no acks=all acknowledgement "
                       f"within {warmup_timeout:.0f}s (acks {workload.acked()}, failures "
                       f"{workload.failed[:3]}), or the group read nothing")
            workload.abort()
            raise NoProgress(problem)
        results = run_schedule(cluster, workload, schedule, log)
        history = workload.finish()
        ok = True
        return FaultRun(seed, schedule, results, history)
    finally:
        if not ok:
            log(cluster.logs())
        cluster.stop()
