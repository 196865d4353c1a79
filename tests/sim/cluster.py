"""A cluster's controller logic in one process, in virtual time, under seeded faults.

Each simulated broker is what :class:`~brook.broker.cluster.ClusterMembership` makes of a broker
— a :class:`ControllerRole` and a :class:`MetadataFollower` over the shared metadata log, a
self-renewing controller lease, a broker registration, snapshots — with the in-memory store
(:mod:`brook.raft.memory_log`, :mod:`brook.raft.memory_registry`) standing for etcd. A seeded
schedule kills and restarts brokers (kill -9: nothing cleaned up, a new incarnation later),
pauses them past their leases (SIGSTOP: timers fire late, store calls wait for SIGCONT), stops
them cleanly (the controller resigns: a controller change), replaces a paused broker by a new
process with its node id, and creates topics through whichever broker is the controller.

Checked throughout and after quiescence (everything resumed and restarted, then left alone):

- every accepted append and snapshot carries the newest epoch granted so far, and an epoch's
  writes all come from one node: at most one controller per epoch, none from a stale term;
- in every image a broker publishes, no partition is led by a fenced or unknown broker;
- each broker's images move forward: offsets, and every broker's registration epoch;
- controller epochs granted only grow;
- a broker replaced while paused learns it on resume and shuts down;
- at quiescence one controller acts, every live broker is registered and unfenced under its
  current incarnation, and every broker's image equals the store's log replayed from scratch.

``simulate(seed)`` returns the violations (empty when all hold) and the schedule that ran, so
a failing seed is printed and replays exactly: ``python -m tests.sim.cluster SEED``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from brook.broker.cluster import parse_registration
from brook.env import Rng
from brook.metadata.controller.cluster_role import ControllerRole
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.follower import MetadataFollower
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.metadata.serde import encode_record
from brook.metadata.snapshot import image_records
from brook.raft.fenced import DuplicateBrokerRegistration, Leadership
from brook.raft.memory_log import (
    MemoryLeaseElection,
    MemoryMetadataLog,
    MemoryMetadataStore,
    MemorySnapshots,
)
from brook.raft.memory_registry import MemoryBrokerRegistry
from brook.testing.clock import VirtualClock
from brook.testing.vtime import run

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


def _image_values(image: MetadataImage) -> list[bytes]:
    return [encode_record(r) for r in image_records(image)]


class _Run:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.nodes: dict[int, SimNode] = {}
        self.side: list[asyncio.Task[Any]] = []
        self.old: list[SimNode] = []
        self.topics = 0

    def spawn(self, node_id: int) -> SimNode:
        node = SimNode(self.sim, node_id)
        self.nodes[node_id] = node
        node.start()
        assert node.main is not None
        node.main.add_done_callback(functools.partial(self._ended, node))
        self.watch(node)
        return node

    def _ended(self, node: SimNode, task: asyncio.Task[None]) -> None:
        """A node's process ends only by being killed or stopped, or by refusing to start
        while another live process holds its node id; anything else is a defect."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None and not node.killed:
            self.sim.violation(f"{node.name} stopped acting by itself")
        elif isinstance(exc, DuplicateBrokerRegistration) and self.live(node.node_id, node):
            self.sim.note(f"{node.name} refuses to start: {exc}")
            self.background(node.kill())
        elif exc is not None and not isinstance(exc, Killed):
            self.sim.violation(f"{node.name} failed: {exc!r}")

    def alive(self) -> list[SimNode]:
        """Every process running now, in node id order (a replaced one that, resumed before
        its successor registered, rightly kept its node id included)."""
        return sorted((n for n in [*self.nodes.values(), *self.old] if not n.killed),
                      key=lambda n: n.node_id)

    def live(self, node_id: int, but: SimNode | None = None) -> list[SimNode]:
        """The processes now running with ``node_id`` (besides ``but``)."""
        return [n for n in [*self.nodes.values(), *self.old]
                if n.node_id == node_id and not n.killed and n is not but]

    def watch(self, node: SimNode) -> None:
        """A replaced broker shuts down on learning it (done here, not in its own tasks)."""
        async def replaced() -> None:
            exc = await node.registry.wait_lost()
            self.sim.note(f"{node.name} learns it was replaced ({exc}); shuts down")
            node.replaced = True
            await node.kill()
        self.side.append(asyncio.get_running_loop().create_task(replaced()))

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.side.append(asyncio.get_running_loop().create_task(coro))

    async def create_topic(self) -> None:
        active = [n for n in self.nodes.values()
                  if n.controller.cluster is not None and n.controller.cluster.active()]
        if not active:
            return
        node = active[0]
        self.topics += 1
        name = f"t{self.topics}"
        self.sim.note(f"create {name} through {node.name}")
        try:
            await node.controller.create_topics(
                [TopicSpec(name, self.sim.rng.randint(1, 4), self.sim.rng.randint(1, 2))],
                validate_only=False)
        except (Exception, Killed):
            pass  # a controller that stepped down or died meanwhile: the client retries

    async def chaos(self) -> None:
        sim, clock, rng = self.sim, self.sim.clock, self.sim.rng
        deadline = clock.monotonic() + CHAOS_S
        while clock.monotonic() < deadline:
            await clock.sleep(rng.uniform(0.05, 2.0))
            action = rng.random()
            node_id = rng.randint(1, NODES)
            node = self.nodes.get(node_id)
            now = clock.monotonic()
            if action < 0.35:
                self.background(self.create_topic())
            elif node is None or node.killed:
                if not self.live(node_id):
                    sim.note(f"restart node {node_id}")
                    self.spawn(node_id)
            elif action < 0.5:
                sim.note(f"kill -9 {node.name}")
                await node.kill()
            elif action < 0.65:
                controller = self.controller_node() or node
                pause = rng.uniform(0.5, 3 * LEASE_S)
                sim.note(f"pause {controller.name} for {pause:.3f}s")
                controller.paused_until = max(controller.paused_until, now + pause)
            elif action < 0.72:
                sim.note(f"stop {node.name} cleanly")
                await node.stop()
            elif action < 0.78 and node.paused_until > now + SESSION_S + 1:
                sim.note(f"node id {node_id} taken over while {node.name} is paused")
                self.old.append(node)
                self.spawn(node_id)

    def controller_node(self) -> SimNode | None:
        leader = self.sim.store.leader
        if leader is None:
            return None
        node = self.nodes.get(leader[0])
        return node if node is not None and not node.killed else None

    async def quiesce(self) -> None:
        sim = self.sim
        sim.note("quiesce: everything resumed and restarted")
        for node in self.nodes.values():
            node.paused_until = 0.0
        # A replaced node's pause is left to run out (well within the quiet time): resumed now,
        # it could wake before its successor registered and rightly keep its node id.
        # Twice: a paused broker counted as live may find, on waking, that it was replaced.
        for _ in range(2):
            for node_id in range(1, NODES + 1):
                if not self.live(node_id):
                    self.spawn(node_id)
            await sim.clock.sleep(QUIET_S / 2)
        self.check_quiescent()

    def check_quiescent(self) -> None:
        sim, store = self.sim, self.sim.store
        for node_id in range(1, NODES + 1):
            live = self.live(node_id)
            if len(live) != 1:
                sim.violation(f"node.id {node_id} served by {[n.name for n in live]}")
        current = self.alive()
        actives = [n.name for n in current
                   if n.controller.cluster is not None and n.controller.cluster.active()]
        if len(actives) != 1:
            sim.violation(f"at quiescence {len(actives)} controllers act: {actives}")
        end = store.first_offset + len(store.records) - 1
        reference = MetadataLoader(None)
        head = [] if store.snapshot is None else [(store.snapshot[0], v) for v in store.snapshot[1]]
        reference.load(records=head + [(store.first_offset + i, v)
                                       for i, v in enumerate(store.records)])
        expected = _image_values(reference.image)
        for node in current:
            image = node.loader.image
            if not node.running:
                sim.violation(f"{node.name} never finished starting")
                continue
            if image.offset != end:
                sim.violation(f"{node.name} applied up to {image.offset}, the log ends at {end}")
            elif _image_values(image) != expected:
                sim.violation(f"{node.name}'s image differs from the log replayed")
            reg = image.cluster.brokers.get(node.node_id)
            if reg is None or reg.fenced or reg.incarnation_id != node.incarnation:
                sim.violation(f"{node.name} is not registered unfenced as itself: {reg}")

    async def last_death(self) -> None:
        """One broker (sometimes the controller) killed for good: once its session lapsed,
        every survivor's image has it fenced and leading nothing, under one controller."""
        sim = self.sim
        victim = sim.rng.choice(self.alive())
        sim.note(f"kill -9 {victim.name} for good")
        await victim.kill()
        await sim.clock.sleep(QUIET_S / 2)
        survivors = self.alive()
        actives = [n for n in survivors
                   if n.controller.cluster is not None and n.controller.cluster.active()]
        if len(actives) != 1:
            sim.violation(f"after {victim.name}'s death {len(actives)} controllers act")
        for node in survivors:
            image = node.loader.image
            reg = image.cluster.brokers.get(victim.node_id)
            if reg is None or not reg.fenced:
                sim.violation(f"{node.name} does not see the dead {victim.name} fenced")
            led = [f"{t.name}-{i}" for t in image.topics.by_id.values()
                   for i, p in t.partitions.items() if p.leader == victim.node_id]
            if led:
                sim.violation(f"{node.name} sees the dead {victim.name} lead {led[:5]}")

    async def main(self) -> None:
        for node_id in range(1, NODES + 1):
            self.spawn(node_id)
        await self.chaos()
        await self.quiesce()
        await self.last_death()
        for node in [*self.nodes.values(), *self.old]:
            if not node.killed:
                await node.kill()
        for task in self.side:
            task.cancel()
        await asyncio.gather(*self.side, return_exceptions=True)


def simulate(seed: int) -> Sim:
    clock = VirtualClock()
    sim = Sim(seed, clock, MemoryMetadataStore(clock), random.Random(seed))
    run(_Run(sim).main(), clock=clock)
    return sim


def report(sim: Sim) -> str:
    return "\n".join([f"seed {sim.seed}: {len(sim.violations)} violations "
                      f"(replay: python -m tests.sim.cluster {sim.seed})",
                      *sim.violations[:20], "schedule:", *sim.schedule])


if __name__ == "__main__":
    result = simulate(int(sys.argv[1]))
    print(report(result))
    sys.exit(1 if result.violations else 0)
