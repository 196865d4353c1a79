"""A broker process: its components, their start order, and a clean stop.

Start: replay the metadata log into the first image; open (recovering after a crash) the
partition logs the image assigns here, each with its topic's configuration, setting aside any
directory the image does not know; let the replica manager serve them; register this broker's
endpoints; then open the listeners. The logs open after the replay, not before, so that no log
ever runs with the broker defaults instead of its topic's settings (a ``retention.ms=-1``
topic, a compacted ``__consumer_offsets``). Stop (SIGTERM): close listeners, close connections, flush and checkpoint
every log, write the clean-shutdown marker, close the metadata log. A restart after a clean
stop skips log recovery; after a crash it scans from the last recovery point.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brook.broker.auto_topic_creation import WAIT_S, AutoTopicCreation
from brook.broker.cluster import ClusterMembership, etcd_endpoints
from brook.broker.config import SECURITY_PROTOCOLS, BrokerConfig, ConfigError
from brook.broker.connection_limits import ConnectionLimits
from brook.broker.controller_channel import ControllerChannel, LocalControllerChannel
from brook.broker.controller_forwarding import ForwardingControllerChannel
from brook.broker.dispatch import supported_api_keys
from brook.broker.fetch_session import FetchSessionCache
from brook.broker.group_coordinator_wiring import BrokerGroupCoordinator
from brook.broker.inter_broker_client import InterBrokerClient
from brook.broker.producer_ids import ProducerIdManager
from brook.broker.services import BrokerServices
from brook.env import SYSTEM_CLOCK, SYSTEM_RNG, Clock, Rng
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.raft.local import LocalRaftClient
from brook.replication.fetcher_manager import ReplicaFetcherManager, fetcher_config
from brook.replication.replica_manager import ReplicaManager
from brook.storage.dir_lock import DirLocks
from brook.storage.log_dirs import DirKind, classify
from brook.storage.log_manager import LogManager

if TYPE_CHECKING:
    from brook.broker.connection import KafkaConnection

log = logging.getLogger(__name__)

_CLOSE_GRACE_S = 5.0
"""How long a stopping broker lets its closed connections drain their write buffers."""


def _cluster_id(meta_dir: Path, configured: str | None, clustered: bool = False,
                node_id: int | None = None) -> str:
    """The cluster id lives in ``meta.properties`` beside the logs, as in Kafka. A broker
    joining a cluster must be told the cluster's id, and refuses to start with data formatted
    for another cluster (Kafka's INCONSISTENT_CLUSTER_ID) rather than mixing the two. In a
    cluster the file also names the node whose data it is: a broker given another node's
    directory would serve that node's replicas as its own, so it refuses to start, as Kafka
    does on a stale or incorrect node.id."""
    path = meta_dir / "meta.properties"
    if path.exists():
        props = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        stored_node = props.get("node.id", "").strip()
        if clustered and node_id is not None and stored_node and stored_node != str(node_id):
            raise ConfigError(f"{meta_dir} holds the data of node.id={stored_node}, "
                              f"not node.id={node_id}")
        if "cluster.id" in props:
            stored = props["cluster.id"].strip()
            if clustered and configured and configured != stored:
                raise ConfigError(
                    f"{meta_dir} belongs to cluster {stored}, not cluster.id={configured}")
            if clustered and node_id is not None and not stored_node:
                _write_meta(path, stored, node_id)
            return stored
    if clustered and not configured:
        raise ConfigError("cluster.id is required to join a cluster (the same on every broker)")
    cluster_id = configured or (
        uuid.UUID(bytes=SYSTEM_RNG.uuid4_bytes()).hex[:22]
    )
    meta_dir.mkdir(parents=True, exist_ok=True)
    _write_meta(path, cluster_id, node_id if clustered else None)
    return cluster_id


def _write_meta(path: Path, cluster_id: str, node_id: int | None) -> None:
    tmp = path.with_suffix(".tmp")
    node = f"node.id={node_id}\n" if node_id is not None else ""
    tmp.write_text(f"version=1\ncluster.id={cluster_id}\n{node}")
    tmp.replace(path)


class BrokerNode:
    """Lifecycle: ``start`` once, ``stop`` once. All components share the broker's single
    event loop; only fsyncs run in worker threads."""

    def __init__(self, config: BrokerConfig, clock: Clock = SYSTEM_CLOCK, rng: Rng = SYSTEM_RNG):
        self.config = config
        self.clock = clock
        self.rng = rng
        self.connections: set[KafkaConnection] = set()
        self.connection_limits = ConnectionLimits(config, clock)
        clustered = etcd_endpoints(config) is not None
        # Before any file in them is read or written: a second process on these directories
        # would recover and append to the same segments as the first.
        self._dir_locks = DirLocks(list(config.log_dirs))
        self.cluster_id = _cluster_id(config.metadata_log_dir, config.cluster_id, clustered,
                                      config.node_id)
        broker_defaults = dict(config.props)
        self.log_manager = LogManager(list(config.log_dirs), broker_defaults, clock.now_ms)
        # One node keeps its metadata in a local log; a cluster's lives in etcd.
        self.raft = None if clustered else LocalRaftClient(config.metadata_log_dir, clock.now_ms())
        # The loader owns the publishers; the controller (in this process, combined mode)
        # publishes through it, and handlers reach it through the channel alone.
        self.loader = MetadataLoader(self.raft)
        self.controller = QuorumController(
            self.raft, clock, rng, config.num_partitions, config.default_replication_factor,
            loader=self.loader,
        )
        self.cluster = (
            ClusterMembership(config, self.cluster_id, self.loader, self.controller, clock,
                              rng.uuid4_bytes())
            if clustered else None
        )
        self.controller_channel: ControllerChannel = (
            LocalControllerChannel(self.controller, config.node_id) if self.cluster is None
            else ForwardingControllerChannel(
                self.controller, config.node_id, self._active_controller_id,
                lambda: self.loader.image, config.inter_broker_listener_name)
        )
        self.replica_manager = ReplicaManager(config.node_id, self.log_manager, broker_defaults,
                                              clock)
        self.log_manager.high_watermark = self.replica_manager.high_watermark
        self.replica_manager.alter_partition.send = self.controller_channel.alter_partition
        self.fetch_sessions = FetchSessionCache(config.fetch_session_cache_slots, clock, rng)
        self.producer_ids = ProducerIdManager(self.controller_channel, config.node_id)
        self.fetchers = ReplicaFetcherManager(
            config.node_id, fetcher_config(config.props), config.inter_broker_listener_name,
            clock, InterBrokerClient, lambda: self.image, self.replica_manager.quotas.follower)
        self.replica_manager.followers = self.fetchers
        self.image: MetadataImage = self.loader.image
        self._servers: list[asyncio.base_events.Server] = []
        self._stop_background = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._background: asyncio.Task[None] | None = None
        self._isr_checks: asyncio.Task[None] | None = None
        self.loader.publishers.append(self._on_metadata)
        # After the replica manager's publisher: shards follow the partitions it opened.
        self.group_coordinator = BrokerGroupCoordinator(
            config, self.replica_manager, self.loader, self.controller_channel, clock, rng
        )
        self.services = BrokerServices(
            config=config,
            cluster_id=self.cluster_id,
            clock=clock,
            image=self.image,
            replica_manager=self.replica_manager,
            controller=self.controller_channel,
            fetch_sessions=self.fetch_sessions,
            producer_ids=self.producer_ids,
            connection_limits=self.connection_limits,
            group_coordinator=self.group_coordinator,
            api_versions=supported_api_keys(),
            # A single node's controller never changes: its creations are waited for.
            auto_topic_creation=AutoTopicCreation(None if self.cluster is None else WAIT_S),
        )

    def _active_controller_id(self) -> int:
        return self.cluster.controller_id if self.cluster is not None else self.config.node_id

    def _on_metadata(
        self, delta: MetadataDelta, image: MetadataImage
    ) -> Coroutine[Any, Any, None] | None:
        self.image = image
        self.services.image = image
        deleted = [t.name for t in delta.deleted_topics.values()]
        if self.loop is None:  # start-up replay, before any client is served
            self.replica_manager.apply_image(image, deleted)
            self.fetchers.on_image(image)
            return None
        return self._apply_image(image, deleted, delta.changed_topic_names(image))

    async def _apply_image(self, image: MetadataImage, deleted: list[str],
                           changed: Iterable[str] | None) -> None:
        await self.replica_manager.apply_image_async(image, deleted, changed)
        self.fetchers.on_image(image)

    def _open_logs(self, image: MetadataImage) -> None:
        """Open the partition logs the first image assigns here, before any publisher runs.
        An empty metadata log with partition directories present means the metadata was lost,
        not that every topic was deleted: the directories are then left untouched."""
        hosted = self.replica_manager.hosted_logs(image)
        lost = image.offset < 0 and self._has_partition_dirs()
        self.log_manager.startup(hosted, set_aside_unknown=not lost)

    def _has_partition_dirs(self) -> bool:
        for log_dir in self.log_manager.log_dirs:
            if not log_dir.is_dir():
                continue
            for entry in log_dir.iterdir():
                kind, _ = classify(entry.name)
                if kind is DirKind.PARTITION and entry.is_dir():
                    log.error("the metadata log is empty but %s holds partition %s; leaving "
                              "it untouched", log_dir, entry.name)
                    return True
        return False

    async def start(self) -> None:
        if self.cluster is not None:
            records = await self.cluster.load()
            self.controller.activate(self.loader.load(self._open_logs, records))
            self.loop = asyncio.get_running_loop()
            await self.cluster.start()
            self.fetchers.start()  # registered: leaders know this broker's epoch
        else:
            self.controller.activate(self.loader.load(before_publish=self._open_logs))
            self.loop = asyncio.get_running_loop()
            await self._register_locally()
        await self._listen()

    async def _register_locally(self) -> None:
        await self.controller.register_broker(
            self.config.node_id,
            self.rng.uuid4_bytes(),
            [
                BrokerEndpointSpec(
                    lsn.name, lsn.host, lsn.port, SECURITY_PROTOCOLS[lsn.security_protocol]
                )
                for lsn in self.config.advertised_listeners
            ],
            self.config.rack,
        )

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        from brook.broker.connection import KafkaConnection

        for listener in self.config.listeners:
            name = listener.name
            server = await loop.create_server(
                lambda name=name: KafkaConnection(self, name),  # type: ignore[misc]
                host=listener.host or None,
                port=listener.port,
                reuse_address=True,
                backlog=1024,
            )
            self._servers.append(server)
        self._background = asyncio.create_task(
            self.log_manager.run_background(self._stop_background)
        )
        self._isr_checks = asyncio.create_task(
            self.replica_manager.run_isr_checks(self._stop_background, self.clock))
        log.info(
            "broker %d started; cluster %s; listeners %s",
            self.config.node_id, self.cluster_id,
            ", ".join(f"{lsn.name}://{lsn.host}:{lsn.port}" for lsn in self.config.listeners),
        )

    async def replaced(self) -> BaseException:
        """Wait until this broker must stop serving because another process took its place
        (its cluster registration was taken over while it was paused); never on one node."""
        if self.cluster is None:
            await asyncio.Event().wait()
        assert self.cluster is not None
        return await self.cluster.registry.wait_lost()

    async def stop(self) -> None:
        if self.cluster is not None:
            # Leaderships move while this broker still serves: clients get retriable
            # NOT_LEADER_OR_FOLLOWER answers and find the new leaders, instead of timeouts.
            await self.cluster.controlled_shutdown(self.controller_channel)
            await self.cluster.leaving()
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        # A closed transport still drains its write buffer; a peer that stopped reading
        # would keep it, and the listener's wait_closed with it, open for ever.
        try:
            await self.clock.wait_for(
                asyncio.gather(*(server.wait_closed() for server in self._servers)),
                _CLOSE_GRACE_S)
        except TimeoutError:
            log.warning("broker %d: connections still draining after %.0f s; dropping them",
                        self.config.node_id, _CLOSE_GRACE_S)
            for conn in list(self.connections):
                conn.abort()
        self.replica_manager.fail_delayed_produces(
            f"broker {self.config.node_id} is shutting down")
        self._stop_background.set()
        if self._background is not None:
            await self._background
        if self._isr_checks is not None:
            await self._isr_checks
        await self.replica_manager.alter_partition.close()
        await self.group_coordinator.stop()
        await self.fetchers.shutdown()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.log_manager.shutdown()
        if self.raft is not None:
            self.raft.close()
        self._dir_locks.release()
        log.info("broker %d stopped cleanly", self.config.node_id)
