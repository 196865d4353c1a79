"""Which partitions this broker follows, and the fetcher that copies each one.

Kafka's ``ReplicaFetcherManager`` driven by ``ReplicaManager.applyDelta``: the replica manager
tells it (its ``FollowerListener``) about every hosted partition whose registration changed
and every partition that went away. A partition is followed while this broker is one of its
replicas and another broker leads it; a new leader or leader epoch restarts it (a new
:class:`~brook.replication.follower.FollowedPartition`, which first finds where the log
diverges); becoming the leader, losing the leader, deletion, a reassignment that moves it
off this broker, and shutdown stop it. Partitions
are spread over ``num.replica.fetchers`` fetchers per leader by a hash of their name, as in
Kafka. A leader that does not advertise ``inter.broker.listener.name`` (not registered yet)
leaves its partitions waiting for the next image.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping

from brook.config.broker import BROKER_CONFIGS
from brook.env import Clock
from brook.metadata.image import MetadataImage
from brook.replication.fetcher import ConnectionFactory, FetcherConfig, ReplicaFetcher
from brook.replication.follower import FollowedPartition
from brook.replication.partition import Partition, TopicPartition
from brook.replication.replication_quota import ReplicationQuota

__all__ = ["FetcherConfig", "ReplicaFetcherManager", "fetcher_config"]

log = logging.getLogger(__name__)


def fetcher_config(props: Mapping[str, str]) -> FetcherConfig:
    """The fetcher settings from the broker's keys, defaults from their definitions."""
    get = BROKER_CONFIGS.get_int
    return FetcherConfig(
        num_fetchers=get(props, "num.replica.fetchers"),
        wait_max_ms=get(props, "replica.fetch.wait.max.ms"),
        min_bytes=get(props, "replica.fetch.min.bytes"),
        max_bytes=get(props, "replica.fetch.max.bytes"),
        response_max_bytes=get(props, "replica.fetch.response.max.bytes"),
        backoff_ms=get(props, "replica.fetch.backoff.ms"),
        socket_timeout_ms=get(props, "replica.socket.timeout.ms"),
    )


def fetcher_index(tp: TopicPartition, num_fetchers: int) -> int:
    return (31 * zlib.crc32(tp.topic.encode()) + tp.partition) % num_fetchers


class ReplicaFetcherManager:
    """Lifecycle: built with the broker; ``start`` once the broker is registered (fetching
    earlier would present a broker epoch the leader does not know yet); ``shutdown`` before
    the logs close."""

    def __init__(self, node_id: int, config: FetcherConfig, listener_name: str, clock: Clock,
                 connect: ConnectionFactory, image: Callable[[], MetadataImage],
                 quota: ReplicationQuota | None = None) -> None:
        self.node_id = node_id
        self.config = config
        self.listener_name = listener_name
        self._clock = clock
        self._connect = connect
        self._image = image
        self._quota = quota
        """The follower replication quota every fetcher shares (Kafka: one per broker)."""
        self.fetchers: dict[tuple[int, int], ReplicaFetcher] = {}
        self._following: dict[TopicPartition, tuple[ReplicaFetcher, FollowedPartition]] = {}
        self._waiting: dict[TopicPartition, Partition] = {}
        """Partitions whose leader is not reachable on the inter-broker listener yet."""
        self._started = False
        self._stopped = False
        self._stopping: set[asyncio.Future[None]] = set()

    # -- FollowerListener --------------------------------------------------------------------

    def partitions_changed(self, parts: Iterable[Partition]) -> None:
        if self._stopped:
            return
        image = self._image()
        for part in parts:
            tp = part.tp
            if part.leader < 0 or part.leader == self.node_id or self.node_id not in part.replicas:
                self._stop_following(tp)
                continue
            current = self._following.get(tp)
            if current is not None:
                fetcher, state = current
                if (fetcher.leader_id == part.leader and state.partition is part
                        and state.leader_epoch == part.leader_epoch):
                    continue
            self._stop_following(tp)
            self._follow(part, image)

    def partitions_removed(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self._stop_following(tp)

    # -- metadata ----------------------------------------------------------------------------

    def on_image(self, image: MetadataImage) -> None:
        """A new image: leaders' endpoints may have changed, waiting partitions' leaders
        may now be registered, and a throttle may have been lifted (fetchers holding back
        throttled partitions look again at once)."""
        if self._stopped:
            return
        for (leader_id, _), fetcher in self.fetchers.items():
            endpoint = image.cluster.endpoint(leader_id, self.listener_name)
            if endpoint is not None:
                fetcher.set_endpoint(endpoint.host, endpoint.port)
            if self._quota is not None:
                fetcher.wake()
        waiting, self._waiting = self._waiting, {}
        for part in waiting.values():
            self._follow(part, image)

    def broker_epoch(self) -> int:
        broker = self._image().cluster.brokers.get(self.node_id)
        return broker.broker_epoch if broker is not None else -1

    @property
    def followed(self) -> dict[TopicPartition, int]:
        """Followed partitions and the broker each is fetched from."""
        return {tp: fetcher.leader_id for tp, (fetcher, _) in self._following.items()}

    # -- internals ---------------------------------------------------------------------------

    def _follow(self, part: Partition, image: MetadataImage) -> None:
        endpoint = image.cluster.endpoint(part.leader, self.listener_name)
        if endpoint is None:
            log.info("%s: leader %d has no %s endpoint yet; waiting for its registration",
                     part.tp, part.leader, self.listener_name)
            self._waiting[part.tp] = part
            return
        key = (part.leader, fetcher_index(part.tp, self.config.num_fetchers))
        fetcher = self.fetchers.get(key)
        if fetcher is None:
            fetcher = self.fetchers[key] = ReplicaFetcher(
                self.node_id, part.leader, self.config, self._clock, self._connect,
                self.broker_epoch, self._quota)
            if self._started:
                fetcher.start()
        fetcher.set_endpoint(endpoint.host, endpoint.port)
        state = FollowedPartition.start(part, part.leader_epoch)
        fetcher.add(state)
        self._following[part.tp] = (fetcher, state)
        log.debug("%s: following broker %d at leader epoch %d from offset %d", part.tp,
                 part.leader, part.leader_epoch, state.fetch_offset)

    def _stop_following(self, tp: TopicPartition) -> None:
        self._waiting.pop(tp, None)
        current = self._following.pop(tp, None)
        if current is not None:
            fetcher = current[0]
            fetcher.remove(tp)
            if not fetcher.states:  # Kafka's shutdownIdleFetcherThreads: close its connection
                self.fetchers = {k: f for k, f in self.fetchers.items() if f is not fetcher}
                stopping = asyncio.ensure_future(fetcher.stop())
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)

    def start(self) -> None:
        self._started = True
        for fetcher in self.fetchers.values():
            fetcher.start()

    async def shutdown(self) -> None:
        """Stop every fetcher (the broker is stopping: its logs close next)."""
        self._stopped = True
        fetchers = list(self.fetchers.values())
        self.fetchers.clear()
        self._following.clear()
        self._waiting.clear()
        await asyncio.gather(*(f.stop() for f in fetchers), *self._stopping)
