"""One simulated broker of :mod:`tests.sim.replication`: the product's replication parts over
real logs, its requests served by the real handlers, its process killable at any await."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from brook.broker.cluster import registered
from brook.broker.config import BrokerConfig
from brook.broker.connection_limits import ConnectionLimits
from brook.broker.context import RequestContext
from brook.broker.controller_channel import LocalControllerChannel
from brook.broker.dispatch import supported_api_keys
from brook.broker.fetch_session import FetchSessionCache
from brook.broker.group_coordinator_wiring import BrokerGroupCoordinator
from brook.broker.handlers import fetch, list_offsets, offset_for_leader_epoch, produce
from brook.broker.producer_ids import ProducerIdManager
from brook.broker.services import BrokerServices
from brook.env import Rng
from brook.metadata.controller.alter_partition import IsrChange, IsrChangeResult
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.protocol._codec import Message
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.list_offsets import ListOffsetsRequest
from brook.protocol.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from brook.protocol.messages.produce import ProduceRequest, ProduceResponse
from brook.replication.fetcher import FetcherConfig
from brook.replication.fetcher_manager import ReplicaFetcherManager
from brook.replication.replica_manager import ReplicaManager
from brook.storage.log_manager import LogManager

if TYPE_CHECKING:
    from tests.sim.replication import Sim, SimController

M = TypeVar("M", bound=Message)
CONTROLLER = 0
TOPIC = "t"
LAG_TIME_MS = 3000
FETCHER = FetcherConfig(wait_max_ms=500, backoff_ms=200, socket_timeout_ms=4000,
                        max_bytes=8192)

_HANDLERS: dict[type[Message], tuple[Any, int]] = {
    FetchRequest: (fetch, ApiKey.FETCH),
    OffsetForLeaderEpochRequest: (offset_for_leader_epoch, ApiKey.OFFSET_FOR_LEADER_EPOCH),
    ListOffsetsRequest: (list_offsets, ApiKey.LIST_OFFSETS),
    ProduceRequest: (produce, ApiKey.PRODUCE),
}


class SimConnection:
    """A fetcher's ``LeaderConnection``: each request crosses the simulated network to the
    leader's process and is served by its handler; the socket timeout bounds the wait."""

    def __init__(self, broker: SimBroker, port: int, timeout_s: float) -> None:
        self.broker = broker
        self.leader = port - 9000
        self.timeout_s = timeout_s

    async def send(self, request: Message, version: int, response_type: type[M]) -> M:
        sim = self.broker.sim
        leader = sim.brokers.get(self.leader)
        if leader is None:
            raise ConnectionRefusedError(f"no broker {self.leader}")
        answer = await sim.clock.wait_for(
            sim.rpc(self.broker.node_id, self.leader,
                    lambda: leader.serve(request, version)), self.timeout_s)
        assert isinstance(answer, response_type)
        return answer

    def close(self) -> None:
        pass


class SimBroker:
    """One incarnation of a broker process (a restart is a new SimBroker on the same files)."""

    def __init__(self, sim: Sim, controller: SimController, node_id: int, incarnation: int,
                 data: Path) -> None:
        self.sim = sim
        self.controller = controller
        self.node_id = node_id
        self.name = f"{node_id}#{incarnation}"
        self.incarnation = sim.rng.randbytes(16)
        self.killed = False
        self.serving = False
        """Listening: before, connections to this broker are refused."""
        self.tasks: set[asyncio.Task[Any]] = set()
        self.images: asyncio.Queue[tuple[MetadataDelta | None, MetadataImage]] = asyncio.Queue()
        clock = sim.clock
        props = {"node.id": str(node_id), "listeners": f"PLAINTEXT://127.0.0.1:{9000 + node_id}",
                 "log.dirs": str(data), "replica.lag.time.max.ms": str(LAG_TIME_MS),
                 "log.segment.bytes": "16384"}
        self.config = BrokerConfig.from_props(props)
        self.log_manager = LogManager([data], dict(self.config.props), clock.now_ms)
        self.replica_manager = ReplicaManager(node_id, self.log_manager, dict(self.config.props))
        self.replica_manager.alter_partition.send = self._alter_partition
        self.image: MetadataImage = controller.image
        self.fetchers = ReplicaFetcherManager(
            node_id, FETCHER, "PLAINTEXT", clock,
            lambda host, port, client_id, timeout: SimConnection(self, port, timeout),
            lambda: self.image)
        self.replica_manager.followers = self.fetchers
        rng = Rng(sim.rng.getrandbits(64))
        channel = LocalControllerChannel(controller.controller, CONTROLLER)
        self.services = BrokerServices(
            config=self.config, cluster_id="sim", clock=clock, image=self.image,
            replica_manager=self.replica_manager, controller=channel,
            fetch_sessions=FetchSessionCache(10, clock),
            producer_ids=ProducerIdManager(channel, node_id),
            connection_limits=ConnectionLimits(self.config, clock),
            group_coordinator=BrokerGroupCoordinator(
                self.config, self.replica_manager, MetadataLoader(None), channel, clock, rng),
            api_versions=supported_api_keys(),
        )
        self._stop = asyncio.Event()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task of this process: cancelled when it is killed."""
        task = asyncio.get_running_loop().create_task(coro)
        if self.killed:
            task.cancel()
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        task.add_done_callback(self.sim.crashed)
        return task

    # -- start-up -----------------------------------------------------------------------------
    async def start(self) -> None:
        """What a cluster broker does: load the metadata, open (recover) the logs it hosts,
        register, then fetch. Images published from now on queue for the applier."""
        image = self.controller.image
        self.image = self.services.image = image
        self.log_manager.startup(self.replica_manager.hosted_logs(image))
        self.replica_manager.apply_image(image)
        self.fetchers.on_image(image)
        self.spawn(self._apply_images())
        self.spawn(self._register_and_heartbeat())
        self.spawn(self.replica_manager.run_isr_checks(self._stop, self.sim.clock))

    async def _register_and_heartbeat(self) -> None:
        sim, controller = self.sim, self.controller
        while True:
            try:
                await sim.clock.wait_for(sim.rpc(self.node_id, CONTROLLER, lambda: controller.register(
                    self.node_id, self.incarnation)), 5.0)
                break
            except (ConnectionError, TimeoutError):
                await sim.clock.sleep(0.5)
        # As ``ClusterMembership.start``: serve (and fetch) once the image holds this
        # incarnation's registration, unfenced.
        while not registered(self.image, self.node_id, self.incarnation):
            await sim.clock.sleep(0.05)
        self.serving = True
        self.fetchers.start()
        while True:
            await sim.clock.sleep(0.5)
            try:
                await sim.clock.wait_for(sim.rpc(self.node_id, CONTROLLER, lambda: controller.heartbeat(
                    self.node_id, self.incarnation)), 2.0)
            except (ConnectionError, TimeoutError):
                pass

    async def _apply_images(self) -> None:
        """The metadata watch: images in order, each once the controller link lets it by."""
        sim = self.sim
        while True:
            delta, image = await self.images.get()
            while not sim.link_up(self.node_id, CONTROLLER):
                await sim.clock.sleep(0.1)
            await sim.clock.sleep(sim.rng.uniform(0.0005, 0.02))
            self.image = self.services.image = image
            deleted = [] if delta is None else [t.name for t in delta.deleted_topics.values()]
            changed = None if delta is None else delta.changed_topic_names(image)
            await self.replica_manager.apply_image_async(image, deleted, changed)
            self.fetchers.on_image(image)

    async def _alter_partition(self, broker_id: int, broker_epoch: int,
                               changes: Any) -> list[IsrChangeResult]:
        sim, controller = self.sim, self.controller.controller
        changes_ = list[IsrChange](changes)
        return await sim.clock.wait_for(sim.rpc(
            self.node_id, CONTROLLER,
            lambda: controller.alter_partition(broker_id, broker_epoch, changes_)), 5.0)

    # -- serving ------------------------------------------------------------------------------
    async def serve(self, request: Message, version: int) -> Message:
        module, key = _HANDLERS[type(request)]
        ctx = RequestContext(self.services, key, version, 1, "sim", "PLAINTEXT",
                             "127.0.0.1:1", "sim")
        result = module.handle(ctx, request)
        answer: Message = await result if inspect.isawaitable(result) else result
        if isinstance(answer, FetchResponse):
            for topic in answer.responses:  # the bytes leave the leader's segments now
                for data in topic.partitions:
                    raw = data.records
                    if isinstance(raw, list):
                        data.records = b"".join(bytes(c) for c in raw)
                    elif isinstance(raw, memoryview):
                        data.records = bytes(raw)
        return answer

    async def produce(self, request: ProduceRequest) -> ProduceResponse:
        answer = await self.serve(request, 9)
        assert isinstance(answer, ProduceResponse)
        return answer

    async def fetch(self, request: FetchRequest, version: int) -> FetchResponse:
        answer = await self.serve(request, version)
        assert isinstance(answer, FetchResponse)
        return answer

    def log_bytes(self, partition: int, end: int) -> bytes:
        """This replica's batches below ``end``, as stored (leader epochs included)."""
        part = self.replica_manager.get_partition(TOPIC, partition)
        if part is None:
            return b""
        info = part.log.read(0, 1 << 30, end, True)
        return b"".join(bytes(c) for c in info.chunks)

    # -- death --------------------------------------------------------------------------------
    async def kill(self) -> None:
        """kill -9: every task cancelled, descriptors dropped, nothing written."""
        self.killed = True
        self._stop.set()
        self.fetchers._stopped = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for fetcher in list(self.fetchers.fetchers.values()):
            await fetcher.stop()
        await self.replica_manager.alter_partition.close()
        for part in list(self.replica_manager.partitions.values()):
            part.close()
        for _, plog in self.log_manager.all_logs():
            plog.close_handlers()
