"""One simulated broker of :mod:`tests.sim.cluster` and the store-side checks.

A :class:`SimNode` is what :class:`~brook.broker.cluster.ClusterMembership` makes of a broker —
a :class:`ControllerRole` and a :class:`MetadataFollower` over the shared metadata log, a
self-renewing controller lease, a broker registration, snapshots — over the in-memory store
that stands for etcd. Every store call of the node passes its :meth:`SimNode.gate`, which holds
it while the node is paused and refuses it once the node is killed. :class:`Sim` checks each
election and each accepted write as it happens; each node checks each image it publishes.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from typing import Any

from brook.broker.cluster import parse_registration
from brook.env import Rng
from brook.metadata.controller.cluster_role import ControllerRole
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.delta import MetadataDelta
from brook.metadata.follower import MetadataFollower
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.raft.fenced import Leadership
from brook.raft.memory_log import (
    MemoryLeaseElection,
    MemoryMetadataLog,
    MemoryMetadataStore,
    MemorySnapshots,
)
from brook.raft.memory_registry import MemoryBrokerRegistry
from brook.testing.clock import VirtualClock

NODES = 3
LEASE_S = 3.0
SESSION_S = 3.0
SNAPSHOT_BYTES = 2048
CHAOS_S = 60.0
QUIET_S = 40.0


class Killed(BaseException):
    """The simulated process was killed: whatever it was doing stops, and it touches nothing
    in the store again (a BaseException, so no ``except Exception`` in the code under test
    mistakes it for a failure to handle)."""


@dataclass
class Sim:
    seed: int
    clock: VirtualClock
    store: MemoryMetadataStore
    rng: random.Random
    violations: list[str] = field(default_factory=list)
    schedule: list[str] = field(default_factory=list)
    grants: list[Leadership] = field(default_factory=list)
    writers: dict[int, int] = field(default_factory=dict)
    """Epoch -> the node whose writes the store accepted under it."""
    writes: dict[str, int] = field(default_factory=dict)
    """Accepted writes by kind (append, snapshot)."""
    incarnations: int = 0

    def note(self, what: str) -> None:
        self.schedule.append(f"{self.clock.monotonic():8.3f} {what}")

    def violation(self, what: str) -> None:
        self.violations.append(f"{self.clock.monotonic():8.3f} {what}")

    # -- the store's writes, checked as they are accepted -------------------------------------
    def granted(self, leadership: Leadership) -> None:
        if self.grants and leadership.epoch <= self.grants[-1].epoch:
            self.violation(f"epoch {leadership.epoch} granted after {self.grants[-1].epoch}")
        self.grants.append(leadership)
        self.note(f"node {leadership.node_id} elected, epoch {leadership.epoch}")

    def wrote(self, kind: str, leadership: Leadership) -> None:
        newest = self.grants[-1] if self.grants else None
        if newest is None or leadership.epoch != newest.epoch:
            self.violation(f"{kind} from epoch {leadership.epoch} accepted while epoch "
                           f"{newest.epoch if newest else None} is the newest")
        writer = self.writers.setdefault(leadership.epoch, leadership.node_id)
        if writer != leadership.node_id:
            self.violation(f"epoch {leadership.epoch} written by nodes {writer} and "
                           f"{leadership.node_id}")
        self.writes[kind] = self.writes.get(kind, 0) + 1


class CheckedLog(MemoryMetadataLog):
    """The node's view of the shared log; accepted appends are checked against the grants."""

    def __init__(self, node: SimNode) -> None:
        super().__init__(node.sim.store, node.gate)
        self._sim = node.sim

    async def append(self, leadership: Leadership, values: Any, expected_end: int) -> int:
        last = await super().append(leadership, values, expected_end)
        self._sim.wrote("append", leadership)
        return last


class CheckedElection(MemoryLeaseElection):
    def __init__(self, node: SimNode) -> None:
        super().__init__(node.sim.store, node.node_id, LEASE_S, node.gate)
        self._sim = node.sim

    async def campaign(self) -> Leadership:
        leadership = await super().campaign()
        self._sim.granted(leadership)
        return leadership


class SimNode:
    """One broker process; a restart is a new SimNode (a new incarnation) with the same id."""

    def __init__(self, sim: Sim, node_id: int) -> None:
        self.sim = sim
        self.node_id = node_id
        sim.incarnations += 1
        self.name = f"{node_id}#{sim.incarnations}"
        self.incarnation = sim.rng.randbytes(16)
        self.paused_until = 0.0
        self.killed = False
        self.running = False
        self.replaced = False
        store = sim.store
        self.log = CheckedLog(self)
        self.snapshots = _CheckedSnapshots(self)
        self.registry = MemoryBrokerRegistry(store, SESSION_S, self.gate)
        self.loader = MetadataLoader(None)
        self.loader.publishers.append(self._check_image)
        self.controller = QuorumController(None, sim.clock, Rng(sim.rng.getrandbits(64)), 2, 2,
                                           loader=self.loader)
        self.follower = MetadataFollower(self.loader, self.log.follow, self.snapshots.load)
        self.elections: list[CheckedElection] = []
        self.role = ControllerRole(node_id, self.controller, self.follower, self.log,
                                   self.registry, self._new_election, parse_registration,
                                   sim.clock, self.snapshots, SNAPSHOT_BYTES)
        self.main: asyncio.Task[None] | None = None
        self._offset = -1
        self._epochs: dict[int, int] = {}

    def _new_election(self) -> CheckedElection:
        election = CheckedElection(self)
        self.elections.append(election)
        return election

    async def gate(self) -> None:
        """Every store call passes here: wait while paused, refuse once killed."""
        clock = self.sim.clock
        while not self.killed and clock.monotonic() < self.paused_until:
            await clock.sleep(self.paused_until - clock.monotonic())
        if self.killed:
            raise Killed(self.name)

    def _check_image(self, delta: MetadataDelta, image: MetadataImage) -> None:
        if image.offset < self._offset:
            self.sim.violation(f"{self.name}: image went back from {self._offset} to {image.offset}")
        self._offset = image.offset
        brokers = image.cluster.brokers
        for b in brokers.values():
            if b.broker_epoch < self._epochs.get(b.broker_id, -1):
                self.sim.violation(f"{self.name}: broker {b.broker_id}'s epoch went back from "
                                   f"{self._epochs[b.broker_id]} to {b.broker_epoch}")
            self._epochs[b.broker_id] = b.broker_epoch
        for topic in image.topics.by_id.values():
            for index, p in topic.partitions.items():
                if p.leader < 0:
                    continue
                leader = brokers.get(p.leader)
                if leader is None or leader.fenced:
                    self.sim.violation(f"{self.name}: {topic.name}-{index} led by "
                                       f"{'fenced' if leader else 'unknown'} broker {p.leader} "
                                       f"at offset {image.offset}")

    def start(self) -> None:
        self.main = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        await self._load()
        self.controller.activate(self.loader.image)
        self.follower.start()
        end = await self.log.end_offset()
        await self.follower.wait_applied(end - 1)
        payload = json.dumps({"incarnation": self.incarnation.hex(), "rack": None,
                              "endpoints": [["PLAINTEXT", "127.0.0.1", 9000 + self.node_id, 0]]},
                             sort_keys=True).encode()
        await self.registry.register(self.node_id, payload)
        self.running = True
        await self.role.run()

    async def _load(self) -> None:
        """What a broker replays at start: the snapshot, then the log after it."""
        store = self.sim.store
        while True:
            snapshot = await self.snapshots.load()
            head: list[tuple[int, bytes]] = []
            start = 0
            if snapshot is not None:
                head = [(snapshot[0], v) for v in snapshot[1]]
                start = snapshot[0] + 1
            await self.gate()
            if start >= store.first_offset:
                break
        if snapshot is not None:
            self.sim.note(f"{self.name} starts from the snapshot at {snapshot[0]}")
        end = store.first_offset + len(store.records)
        records = [(o, store.records[o - store.first_offset]) for o in range(start, end)]
        self.loader.load(records=head + records)

    def _abandon(self) -> None:
        for election in self.elections:
            election.abandon()
        self.registry.abandon()

    async def kill(self) -> None:
        """kill -9: every task of the process cancelled, nothing said to the store. Runs in
        the schedule's task, never in one of this node's own (it awaits them)."""
        self.killed = True
        self.running = False
        self._abandon()
        tasks = [t for t in (self.main,) if t is not None]
        for t in tasks:
            t.cancel()
        await self.follower.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        """A clean shutdown: the controller resigns, the registration is dropped."""
        self.running = False
        self.paused_until = 0.0
        if self.main is not None:
            self.main.cancel()
            await asyncio.gather(self.main, return_exceptions=True)
        for election in self.elections:
            election.abandon()
        try:
            await self.role.resign()
            await self.registry.deregister()
        except Killed:
            pass
        await self.follower.stop()
        self.killed = True  # the process is gone


class _CheckedSnapshots(MemorySnapshots):
    def __init__(self, node: SimNode) -> None:
        super().__init__(node.sim.store, node.gate)
        self._sim = node.sim

    async def write(self, leadership: Leadership, end: int, values: Any) -> None:
        await super().write(leadership, end, values)
        self._sim.wrote("snapshot", leadership)
