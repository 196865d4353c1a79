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
- a broker killed for good is, once its session lapsed, fenced and leads no partition in any
  survivor's image;
- at quiescence one controller acts, every live broker is registered and unfenced under its
  current incarnation, and every broker's image equals the store's log replayed from scratch.

``simulate(seed)`` returns the violations (empty when all hold) and the schedule that ran, so
a failing seed is printed and replays exactly: ``python -m tests.sim.cluster SEED``.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sys
from collections.abc import Coroutine
from typing import Any

from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.metadata.serde import encode_record
from brook.metadata.snapshot import image_records
from brook.raft.fenced import DuplicateBrokerRegistration
from brook.raft.memory_log import MemoryMetadataStore
from brook.testing.clock import VirtualClock
from brook.testing.vtime import run
from tests.sim.node import (
    CHAOS_S,
    LEASE_S,
    NODES,
    QUIET_S,
    SESSION_S,
    Killed,
    Sim,
    SimNode,
)


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
