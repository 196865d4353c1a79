"""ISR replication in one process, in virtual time, over a simulated network, under seeded faults.

Three simulated brokers each run the product's replication state machines over real logs in a
temporary directory: a :class:`ReplicaManager` (leader state, high watermark from the ISR,
acks=all purgatory, ISR shrink and expand through its AlterPartition manager), a
:class:`ReplicaFetcherManager` whose fetchers reach their leaders through :class:`SimConnection`
(a ``LeaderConnection``), and the broker's real request handlers (Fetch, OffsetForLeaderEpoch,
ListOffsets, Produce) called with the request and response objects, without the wire encoding
(a fetch answer's records are copied out of the leader's segments when it "leaves" the leader).
One controller — a :class:`QuorumController` committing to an in-memory log, never killed here
(``tests.sim.cluster`` proves the controller's own failover) — registers brokers, fences those
whose heartbeats lapse (electing new leaders from the ISR), unfences them when they come back,
applies AlterPartition, and publishes every image to every broker, in order, over the network.

What is modelled:

- the network: every message between two nodes (controller 0, brokers 1-3, clients 100 and
  101) takes a seeded delay; a link may be lossy (a message lost resets the connection: the
  sender sees an error after the delay) or cut (a partition: the sender's request times out);
  partitions heal. Metadata images wait while the controller link is cut and arrive in order
  once it heals, as a metadata watch resumes.
- kill -9 of a broker: every task of the process cancelled, its in-flight requests never
  answered, its file descriptors dropped with nothing written; the files stay as written (the
  operating system keeps what a killed process wrote: power loss, which would drop unflushed
  bytes, is not modelled). A restart is a new incarnation: logs recovered from the files (no
  clean-shutdown marker), a new registration epoch.
- a producer (acks=all, min.insync.replicas=2, RF=3) per partition, never retrying a record:
  one whose answer is an error or never came is of unknown outcome, and the producer goes on
  under a new producer number (so send order is only asserted among acknowledged records of
  one producer); consumers reading below the high watermark from the leaders.

Checked (:class:`brook.testing.history.History` plus the simulation's own): every acknowledged
record is present exactly once at its offset in the final read, in producer order; no offset
ever held two different records across all observations; the high watermark a leader answers
consumers never goes back within one leader epoch; at the end, with faults healed, every
partition has a leader, a full ISR and three byte-identical replicas up to the high watermark.

``simulate(seed)`` returns the run; a failing seed prints its violations and the schedule that
ran, and replays with ``python -m tests.sim.replication SEED`` (``-v`` adds the product's logs).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from brook.env import Rng
from brook.metadata.controller.cluster_commit import ClusterCommit
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.metadata.serde import decode_record
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.records.record import build_batch, iter_records_in_batches
from brook.testing.clock import VirtualClock
from brook.testing.history import History, record_value
from brook.testing.vtime import run
from tests.sim.replication_broker import SimBroker

T = TypeVar("T")

CONTROLLER = 0
BROKERS = (1, 2, 3)
PRODUCER, CONSUMER = 100, 101
TOPIC = "t"
PARTITIONS = 2
SESSION_S = 3.0
HEARTBEAT_S = 0.5
CHAOS_S = 30.0
QUIET_S = 30.0
REQUEST_TIMEOUT_S = 3.0


class Unreachable(ConnectionError):
    """A message that did not arrive: lost (reset), blackholed (timed out) or refused."""


@dataclass
class Sim:
    seed: int
    clock: VirtualClock
    rng: random.Random
    root: Path
    history: History = field(default_factory=History)
    violations: list[str] = field(default_factory=list)
    schedule: list[str] = field(default_factory=list)
    cut: set[frozenset[int]] = field(default_factory=set)
    loss: dict[frozenset[int], float] = field(default_factory=dict)
    brokers: dict[int, SimBroker] = field(default_factory=dict)
    incarnations: int = 0
    hw_seen: dict[tuple[int, int], int] = field(default_factory=dict)
    """(partition, leader epoch) -> the highest high watermark a consumer was answered."""
    counts: dict[str, int] = field(default_factory=dict)
    registrations: dict[int, tuple[int, int, tuple[int, ...]]] = field(default_factory=dict)

    def note(self, what: str) -> None:
        self.schedule.append(f"{self.clock.monotonic():8.3f} {what}")

    def violation(self, what: str) -> None:
        self.violations.append(f"{self.clock.monotonic():8.3f} {what}")

    def crashed(self, task: asyncio.Task[Any]) -> None:
        """A done-callback for every task of the run: one that died of an exception (not a
        cancellation) is a violation, not a quietly shorter run."""
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.violation(f"task {task.get_name()} crashed: {exc!r}")

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # -- the network -------------------------------------------------------------------------
    def alive(self, node: int) -> bool:
        if node == CONTROLLER or node >= PRODUCER:
            return True
        broker = self.brokers.get(node)
        return broker is not None and not broker.killed

    def link_up(self, a: int, b: int) -> bool:
        return frozenset((a, b)) not in self.cut

    async def transit(self, src: int, dst: int) -> None:
        """One message from ``src`` to ``dst``: its delay, then its fate."""
        link = frozenset((src, dst))
        if link in self.cut:
            await self.clock.sleep(REQUEST_TIMEOUT_S)
            raise Unreachable(f"{src}->{dst} blackholed")
        await self.clock.sleep(self.rng.uniform(0.0005, 0.02))
        if self.rng.random() < self.loss.get(link, 0.0):
            raise Unreachable(f"{src}->{dst} lost")
        if not self.alive(dst) or link in self.cut:
            raise Unreachable(f"{src}->{dst} refused")

    async def rpc(self, src: int, dst: int, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """A request from ``src`` served by ``dst``'s process, and its answer back. A killed
        server never answers; the caller bounds the wait with its own timeout."""
        await self.transit(src, dst)
        if dst == CONTROLLER or dst >= PRODUCER:
            result = await call()
        else:
            server = self.brokers[dst]
            if not server.serving:
                raise Unreachable(f"{src}->{dst} refused: not listening yet")
            task = server.spawn(call())
            await asyncio.wait({task})
            if task.cancelled():
                raise Unreachable(f"{dst} died serving {src}")
            result = task.result()
        await self.transit(dst, src)
        return result


class SimCommit:
    """The controller's commits: an in-memory metadata log, replayed and published at once
    (``tests.sim.cluster`` covers a shared log with failover; here the controller stays)."""

    def __init__(self, loader: MetadataLoader) -> None:
        self.loader = loader
        self.offset = -1
        self.leadership = None

    def active(self) -> bool:
        return True

    async def commit(self, values: Any) -> int:
        delta = MetadataDelta(self.loader.image)
        for value in values:
            self.offset += 1
            record = decode_record(value)
            if record is not None:
                delta.replay(record, self.offset)
        await self.loader.publish(delta, delta.apply())
        return self.offset


class SimController:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.loader = MetadataLoader(None)
        self.controller = QuorumController(None, sim.clock, Rng(sim.rng.getrandbits(64)), 1, 3,
                                           loader=self.loader)
        self.controller.activate(self.loader.image)
        self.controller.activate_cluster(cast(ClusterCommit, SimCommit(self.loader)))
        self.loader.publishers.append(self._publish)
        self.last_seen: dict[int, float] = {}
        self.incarnations: dict[int, bytes] = {}

    @property
    def image(self) -> MetadataImage:
        return self.loader.image

    def _publish(self, delta: MetadataDelta, image: MetadataImage) -> None:
        topic = image.topics.by_name.get(TOPIC)
        before = self.sim.registrations
        for index, reg in (topic.partitions.items() if topic is not None else ()):
            now = (reg.leader, reg.leader_epoch, reg.isr)
            if before.get(index) != now:
                before[index] = now
                self.sim.note(f"{TOPIC}-{index}: leader {reg.leader} epoch {reg.leader_epoch} "
                              f"ISR {list(reg.isr)} (partition epoch {reg.partition_epoch})")
        for broker in self.sim.brokers.values():
            if not broker.killed:
                broker.images.put_nowait((delta, image))

    async def register(self, node_id: int, incarnation: bytes) -> None:
        self.incarnations[node_id] = incarnation
        self.last_seen[node_id] = self.sim.clock.monotonic()
        await self.controller.register_broker(
            node_id, incarnation, [BrokerEndpointSpec("PLAINTEXT", "127.0.0.1", 9000 + node_id, 0)],
            None)

    async def heartbeat(self, node_id: int, incarnation: bytes) -> None:
        if self.incarnations.get(node_id) != incarnation:
            return  # an earlier incarnation's heartbeat, still on its way
        self.last_seen[node_id] = self.sim.clock.monotonic()
        reg = self.image.cluster.brokers.get(node_id)
        if reg is not None and reg.fenced:
            self.sim.note(f"controller unfences broker {node_id}")
            await self.register(node_id, incarnation)

    async def run_liveness(self) -> None:
        """Kafka's broker heartbeat manager: a broker silent for the session time is fenced."""
        while True:
            await self.sim.clock.sleep(HEARTBEAT_S)
            now = self.sim.clock.monotonic()
            for node_id, reg in list(self.image.cluster.brokers.items()):
                if not reg.fenced and now - self.last_seen.get(node_id, now) > SESSION_S:
                    self.sim.note(f"controller fences broker {node_id}")
                    await self.controller.fence_broker(node_id)


class _Run:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.controller = SimController(sim)
        self.side: list[asyncio.Task[Any]] = []
        self.producing = True
        self.producer_number = 0
        self.sequence = 0

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(self.sim.crashed)
        self.side.append(task)

    async def start_broker(self, node_id: int) -> SimBroker:
        sim = self.sim
        sim.incarnations += 1
        broker = SimBroker(sim, self.controller, node_id, sim.incarnations,
                           sim.root / f"broker{node_id}")
        sim.brokers[node_id] = broker
        await broker.start()
        return broker

    # -- clients ------------------------------------------------------------------------------
    def leader_of(self, partition: int) -> tuple[int, int]:
        topic = self.controller.image.topics.by_name.get(TOPIC)
        if topic is None:
            return -1, -1
        reg = topic.partitions[partition]
        return reg.leader, reg.leader_epoch

    def new_producer(self) -> int:
        self.producer_number += 1
        return self.producer_number

    async def produce_loop(self, partition: int) -> None:
        sim = self.sim
        producer = self.new_producer()
        sequence = 0
        while self.producing:
            await sim.clock.sleep(sim.rng.uniform(0.01, 0.2))
            leader, _ = self.leader_of(partition)
            if leader < 0:
                continue
            values = [record_value(producer, sequence + i) for i in range(sim.rng.randint(1, 3))]
            sequence += len(values)
            batch = build_batch([(None, v, [], sim.clock.now_ms()) for v in values])
            request = ProduceRequest(acks=-1, timeout_ms=int(REQUEST_TIMEOUT_S * 1000),
                                     topic_data=[ProduceRequest.TopicProduceData(TOPIC, [
                                         ProduceRequest.PartitionProduceData(
                                             partition, memoryview(batch))])])
            broker = sim.brokers[leader]
            answer: ProduceResponse | None = None
            try:
                answer = await sim.clock.wait_for(
                    sim.rpc(PRODUCER, leader, functools.partial(broker.produce, request)),
                    REQUEST_TIMEOUT_S + 1)
            except (Unreachable, TimeoutError):
                pass
            p = answer.responses[0].partition_responses[0] if answer is not None else None
            if p is not None and p.error_code == ErrorCode.NONE:
                for i, value in enumerate(values):
                    sim.history.ack(value, (TOPIC, partition), p.base_offset + i)
                sim.count("acknowledged batches")
                continue
            sim.history.unacknowledged += len(values)
            sim.count(f"produce {ErrorCode(p.error_code).name if p else 'unanswered'}")
            producer, sequence = self.new_producer(), 0

    async def consume_once(self, partition: int, offset: int,
                           sink: list[tuple[int, bytes]] | None = None) -> tuple[int, int] | None:
        """One consumer fetch from ``partition``'s leader at ``offset``: records observed,
        and ``(next offset, high watermark)`` returned (None on an error)."""
        sim = self.sim
        leader, epoch = self.leader_of(partition)
        if leader < 0:
            return None
        request = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=1 << 20,
                               isolation_level=1, session_id=0, session_epoch=-1, topics=[
                                   FetchRequest.FetchTopic(topic=TOPIC, partitions=[
                                       FetchRequest.FetchPartition(
                                           partition=partition, current_leader_epoch=epoch,
                                           fetch_offset=offset, partition_max_bytes=1 << 16)])])
        broker = sim.brokers[leader]
        try:
            answer = await sim.clock.wait_for(
                sim.rpc(CONSUMER, leader, functools.partial(broker.fetch, request, 12)),
                REQUEST_TIMEOUT_S + 1)
        except (Unreachable, TimeoutError):
            return None
        data = answer.responses[0].partitions[0]
        if data.error_code != ErrorCode.NONE:
            return None
        hw = data.high_watermark
        key = (partition, epoch)
        if hw < sim.hw_seen.get(key, -1):
            sim.violation(f"{TOPIC}-{partition}: broker {leader} answered high watermark {hw} "
                          f"after {sim.hw_seen[key]} in leader epoch {epoch}")
        sim.hw_seen[key] = max(hw, sim.hw_seen.get(key, -1))
        next_offset = offset
        for record in iter_records_in_batches(cast(bytes, data.records or b"")):
            if record.offset < offset:
                continue
            if record.offset >= hw:
                sim.violation(f"{TOPIC}-{partition}: a consumer read offset {record.offset} "
                              f"at or past the high watermark {hw}")
            assert record.value is not None
            sim.history.observe((TOPIC, partition), record.offset, record.value,
                                f"consumer of broker {leader} epoch {epoch}")
            if sink is not None:
                sink.append((record.offset, record.value))
            next_offset = record.offset + 1
        return next_offset, hw

    async def consume_loop(self) -> None:
        sim = self.sim
        positions = dict.fromkeys(range(PARTITIONS), 0)
        while True:
            await sim.clock.sleep(sim.rng.uniform(0.05, 0.5))
            partition = sim.rng.randrange(PARTITIONS)
            if sim.rng.random() < 0.1:
                positions[partition] = 0  # seek to the beginning: re-read what was seen
            got = await self.consume_once(partition, positions[partition])
            if got is not None:
                positions[partition] = got[0]

    # -- faults -------------------------------------------------------------------------------
    async def chaos(self) -> None:
        sim, clock, rng = self.sim, self.sim.clock, self.sim.rng
        deadline = clock.monotonic() + CHAOS_S
        while clock.monotonic() < deadline:
            await clock.sleep(rng.uniform(0.2, 2.5))
            action = rng.random()
            node_id = rng.choice(BROKERS)
            broker = sim.brokers[node_id]
            if broker.killed:
                if action < 0.6:
                    sim.note(f"restart broker {node_id}")
                    await self.start_broker(node_id)
            elif action < 0.2:
                sim.note(f"kill -9 {broker.name}")
                await broker.kill()
            elif action < 0.35:
                others = [n for n in (CONTROLLER, *BROKERS) if n != node_id]
                sim.note(f"isolate broker {node_id}")
                sim.cut.update(frozenset((node_id, o)) for o in others)
            elif action < 0.5:
                other = rng.choice([n for n in (CONTROLLER, *BROKERS) if n != node_id])
                sim.note(f"cut link {node_id}-{other}")
                sim.cut.add(frozenset((node_id, other)))
            elif action < 0.6:
                other = rng.choice([n for n in (CONTROLLER, PRODUCER, *BROKERS) if n != node_id])
                rate = rng.choice((0.05, 0.2, 0.5))
                sim.note(f"link {node_id}-{other} loses {rate:.0%}")
                sim.loss[frozenset((node_id, other))] = rate
            elif action < 0.8:
                sim.note("heal the network")
                sim.cut.clear()
                sim.loss.clear()

    async def quiesce(self) -> None:
        sim = self.sim
        sim.note("quiesce: network healed, every broker running, producers stopped")
        self.producing = False
        sim.cut.clear()
        sim.loss.clear()
        for node_id in BROKERS:
            if sim.brokers[node_id].killed:
                await self.start_broker(node_id)
        await sim.clock.sleep(QUIET_S)

    async def final_check(self) -> None:
        sim = self.sim
        topic = self.controller.image.topics.by_name[TOPIC]
        for partition, reg in sorted(topic.partitions.items()):
            name = f"{TOPIC}-{partition}"
            if reg.leader < 0 or sorted(reg.isr) != list(BROKERS):
                sim.violation(f"{name} after quiescence: leader {reg.leader}, ISR {reg.isr}")
            offset = 0
            hw = -1
            records: list[tuple[int, bytes]] = []
            while True:
                got = await self.consume_once(partition, offset, records)
                if got is None:
                    sim.violation(f"{name}: the final read from broker {reg.leader} failed")
                    break
                offset, hw = got
                if offset >= hw:
                    break
            sim.history.final_read((TOPIC, partition), records)
            if offset < hw:
                continue
            if reg.leader < 0:
                continue
            contents = {n: sim.brokers[n].log_bytes(partition, hw) for n in BROKERS}
            leader_bytes = contents[reg.leader]
            for n, content in contents.items():
                if content != leader_bytes:
                    sim.violation(f"{name}: broker {n}'s log below the high watermark {hw} "
                                  f"differs from the leader {reg.leader}'s")

    async def main(self) -> None:
        sim = self.sim
        self.background(self.controller.run_liveness())
        for node_id in BROKERS:
            await self.start_broker(node_id)
        while len(self.controller.image.cluster.brokers) < len(BROKERS):
            await sim.clock.sleep(0.1)
        created = await self.controller.controller.create_topics(
            [TopicSpec(TOPIC, PARTITIONS, 3, configs={"min.insync.replicas": "2"})],
            validate_only=False)
        sim.note(f"create {TOPIC}: {created}")
        await sim.clock.sleep(1.0)
        for partition in range(PARTITIONS):
            self.background(self.produce_loop(partition))
        self.background(self.consume_loop())
        await self.chaos()
        await self.quiesce()
        for task in self.side:
            task.cancel()
        await asyncio.gather(*self.side, return_exceptions=True)
        await self.final_check()
        for broker in sim.brokers.values():
            if not broker.killed:
                await broker.kill()


def simulate(seed: int) -> Sim:
    clock = VirtualClock()
    root = Path(tempfile.mkdtemp(prefix=f"replsim-{seed}-"))
    sim = Sim(seed, clock, random.Random(seed), root)
    try:
        run(_Run(sim).main(), clock=clock)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sim.violations.extend(sim.history.violations())
    return sim


def report(sim: Sim) -> str:
    return "\n".join([f"seed {sim.seed}: {len(sim.violations)} violations "
                      f"(replay: python -m tests.sim.replication {sim.seed})",
                      sim.history.summary(), f"counts: {sorted(sim.counts.items())}",
                      *sim.violations[:30], "schedule:", *sim.schedule])


if __name__ == "__main__":
    if "-v" not in sys.argv[2:]:  # -v: the product's own logs too
        logging.disable(logging.CRITICAL)
    result = simulate(int(sys.argv[1]))
    print(report(result))
    sys.exit(1 if result.violations else 0)
