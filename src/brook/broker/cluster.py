"""A broker's part in a cluster whose metadata lives in etcd (``metadata.store=etcd://...``).

Every broker of the cluster runs the same three things:

- the **follower** feeds the shared metadata log into the broker's loader, so every broker
  publishes the same images in the same order;
- the **registration**: once caught up with the log, the broker keeps its key in etcd alive
  under a lease of ``broker.session.timeout.ms`` (:mod:`brook.raft.etcd_brokers`);
- the **controller role** (Kafka's combined mode: any broker may be the active controller):
  campaign; once elected, catch up with the log, then act — register brokers that appear, fence
  the ones whose lease lapsed, serve admin operations — until leadership is lost or an append is
  refused, and then stop acting at once and campaign again.

The metadata log's appends are fenced by the controller's epoch, so a term that ended while
this process was paused cannot write anything when it resumes (``docs/decisions/0009``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from brook.broker.config import SECURITY_PROTOCOLS, BrokerConfig
from brook.broker.peer_liveness import Peer, PeerLiveness, refuses, watched_peers
from brook.config.broker import BROKER_CONFIGS
from brook.env import Clock
from brook.metadata.controller.cluster_role import ControllerRole
from brook.metadata.controller.partition_change import partitions_led_by
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import ControllerError
from brook.metadata.follower import MetadataFollower
from brook.metadata.loader import MetadataLoader
from brook.raft.etcd_brokers import EtcdBrokerRegistry
from brook.raft.etcd_client import EtcdClient, EtcdUnavailable, WatchCompacted, parse_endpoints
from brook.raft.etcd_election import EtcdControllerElection
from brook.raft.etcd_log import EtcdMetadataLog, cluster_prefix
from brook.raft.etcd_snapshots import EtcdSnapshots
from brook.raft.fenced import LogGapError

if TYPE_CHECKING:
    from brook.broker.controller_channel import ControllerChannel
    from brook.metadata.image import MetadataImage

__all__ = ["ClusterMembership", "controller_node", "etcd_endpoints", "parse_registration"]

log = logging.getLogger(__name__)

_RETRY_S = 0.5
_SHUTDOWN_POLL_S = 0.2
_REGISTERED_POLL_S = 0.05
INCARNATION_FILE = "broker.incarnation"
"""In the metadata directory: the incarnation of the last process that registered from it."""


def etcd_endpoints(config: BrokerConfig) -> str | None:
    """The etcd endpoints of ``metadata.store``, or None for the local single-node log."""
    store = (config.value("metadata.store") or "local").strip()
    if store == "local":
        return None
    if not store.startswith("etcd://"):
        raise ValueError(f"metadata.store must be 'local' or etcd://host:port,..., not {store!r}")
    return store


def _registration(config: BrokerConfig, incarnation: bytes) -> bytes:
    return json.dumps({
        "incarnation": incarnation.hex(),
        "rack": config.rack,
        "endpoints": [
            [lsn.name, lsn.host, lsn.port, SECURITY_PROTOCOLS[lsn.security_protocol]]
            for lsn in config.advertised_listeners
        ],
    }, sort_keys=True).encode()


def controller_node(value: bytes) -> int:
    """The node id a leader key's value names; -1 (no controller known) for a value no brook
    candidate wrote, so a stray put under the prefix cannot stop a broker tracking the
    controller."""
    try:
        node_id = json.loads(value)["node_id"]
    except (ValueError, KeyError, TypeError):
        node_id = None
    if not isinstance(node_id, int) or isinstance(node_id, bool) or node_id < 0:
        log.warning("the controller key holds %r, not a candidate's registration", value[:100])
        return -1
    return node_id


def parse_registration(payload: bytes) -> tuple[bytes, list[BrokerEndpointSpec], str | None]:
    """``(incarnation, endpoints, rack)`` of a registration key's value; ``ValueError`` for
    anything a broker would not have written. Checked whole, because the controller turns it
    into a RegisterBrokerRecord: a value that cannot be encoded (a port past 65535, a short
    incarnation) would otherwise fail the controller's term on every election."""
    info = json.loads(payload)
    if not isinstance(info, dict):
        raise ValueError("registration is not an object")
    incarnation = bytes.fromhex(str(info.get("incarnation", "")))
    if len(incarnation) != 16:
        raise ValueError("registration incarnation is not 16 bytes")
    rack = info.get("rack")
    if rack is not None and (not isinstance(rack, str) or len(rack.encode()) > 0x7FFF):
        raise ValueError("registration rack is not a string")
    raw = info.get("endpoints")
    if not isinstance(raw, list) or not raw:
        raise ValueError("registration without endpoints")
    endpoints = []
    for ep in raw:
        if not isinstance(ep, list) or len(ep) != 4:
            raise ValueError(f"registration endpoint {ep!r} is not [name, host, port, protocol]")
        name, host, port, protocol = ep
        if not (isinstance(name, str) and isinstance(host, str) and 0 < len(name) <= 255
                and len(host) <= 255):
            raise ValueError(f"registration endpoint {ep!r} has no valid name and host")
        if type(port) is not int or not 0 <= port <= 0xFFFF:
            raise ValueError(f"registration endpoint {ep!r} has no valid port")
        if type(protocol) is not int or protocol not in SECURITY_PROTOCOLS.values():
            raise ValueError(f"registration endpoint {ep!r} has no valid security protocol")
        endpoints.append(BrokerEndpointSpec(name, host, port, protocol))
    return incarnation, endpoints, rack


class ClusterMembership:
    """Lifecycle: ``load`` (the records so far), ``start`` (after the broker opened its logs),
    ``stop``."""

    def __init__(self, config: BrokerConfig, cluster_id: str, loader: MetadataLoader,
                 controller: QuorumController, clock: Clock, incarnation: bytes) -> None:
        endpoints = etcd_endpoints(config)
        assert endpoints is not None
        self.config = config
        self.node_id = config.node_id
        self.client = EtcdClient(parse_endpoints(endpoints))
        prefix = cluster_prefix(cluster_id)
        self.log = EtcdMetadataLog(self.client, prefix, clock)
        session_s = -(-int(config.value("broker.session.timeout.ms") or 9000) // 1000)
        self.registry = EtcdBrokerRegistry(self.client, prefix, clock, session_s)
        self.loader = loader
        self.controller = controller
        self.clock = clock
        self.incarnation = incarnation
        self.snapshots = EtcdSnapshots(self.client, prefix, self.log.leader_key)
        props = config.props
        snapshot_bytes = BROKER_CONFIGS.get_int(
            props, "metadata.log.max.record.bytes.between.snapshots")
        self.follower = MetadataFollower(loader, self.log.follow, self.snapshots.load_retrying)
        self.controller_id = -1
        self._tasks: list[asyncio.Task[None]] = []
        controller.unclean_leader_election = BROKER_CONFIGS.get_bool(
            props, "unclean.leader.election.enable")
        rebalance = None
        if BROKER_CONFIGS.get_bool(props, "auto.leader.rebalance.enable"):
            rebalance = (
                float(BROKER_CONFIGS.get_int(props, "leader.imbalance.check.interval.seconds")),
                BROKER_CONFIGS.get_int(props, "leader.imbalance.per.broker.percentage"))
        self.role = ControllerRole(
            self.node_id, controller, self.follower, self.log, self.registry,
            lambda: EtcdControllerElection(self.client, self.log.leader_key, self.node_id,
                                           incarnation.hex(), clock),
            parse_registration, clock, self.snapshots, snapshot_bytes, rebalance,
        )
        listener = config.inter_broker_listener_name
        self.liveness = PeerLiveness(
            lambda: watched_peers(self.loader.image, self.node_id, listener),
            self._peer_dead, clock)
        self.controlled_shutdown_enabled = BROKER_CONFIGS.get_bool(
            props, "controlled.shutdown.enable")
        self.controlled_shutdown_s = max(
            BROKER_CONFIGS.get_int(props, "controlled.shutdown.max.retries")
            * BROKER_CONFIGS.get_int(props, "controlled.shutdown.retry.backoff.ms") / 1000, 1.0)

    async def load(self) -> Sequence[tuple[int, bytes]]:
        """The newest snapshot's records (all at its end offset), then every committed record
        after it: what the broker's first image is replayed from."""
        while True:
            try:
                snapshot = await self.snapshots.load_retrying()
                head: list[tuple[int, bytes]] = []
                start = 0
                if snapshot is not None:
                    end, values = snapshot
                    head = [(end, v) for v in values]
                    start = end + 1
                _, records = await self.log.read(start)
                return head + records
            except LogGapError as exc:
                log.info("a newer snapshot replaced the log meanwhile (%s): loading again", exc)
            except EtcdUnavailable as exc:
                log.warning("reading the cluster metadata: %s", exc)
                await self.clock.sleep(_RETRY_S)

    async def start(self) -> None:
        self.follower.start()
        while True:
            try:
                end = await self.log.end_offset()
                break
            except EtcdUnavailable as exc:
                log.warning("reading the cluster metadata: %s", exc)
                await self.clock.sleep(_RETRY_S)
        await self.follower.wait_applied(end - 1)
        registration = _registration(self.config, self.incarnation)
        await self._end_predecessor(registration)
        await self.registry.register(self.node_id, registration)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._watch_controller()), loop.create_task(self.role.run()),
                       loop.create_task(self.liveness.run())]
        # Serve only once the image holds this process's registration, unfenced. Until then
        # it may still name this broker the leader its previous process was, at that leader
        # epoch, whose high watermark and unreplicated tail this process cannot know; the
        # controller re-elects those partitions when it registers the new incarnation (Kafka's
        # broker likewise waits to catch up with its own registration before serving).
        while not registered(self.loader.image, self.node_id, self.incarnation):
            if self.follower.failure is not None:  # the image will not move again
                raise self.follower.failure
            await self.clock.sleep(_REGISTERED_POLL_S)

    async def controlled_shutdown(self, channel: ControllerChannel) -> bool:
        """Before stopping: ask the active controller to move this broker's leaderships to
        other in-sync replicas, until it answers that this broker may stop and this broker's
        own image shows it leading nothing (clients then learn the new leaders from any
        broker). Bounded by ``controlled.shutdown.max.retries`` times
        ``controlled.shutdown.retry.backoff.ms`` (at least a second), so a stop always ends;
        False when that ran out (the lease then fences the broker as after a crash)."""
        if not self.controlled_shutdown_enabled or not self._tasks:
            return False
        deadline = self.clock.monotonic() + self.controlled_shutdown_s
        while (left := deadline - self.clock.monotonic()) > 0:
            image = self.loader.image
            me = image.cluster.brokers.get(self.node_id)
            if me is None or me.fenced:
                return True
            try:
                allowed = await asyncio.wait_for(
                    channel.controlled_shutdown(self.node_id, me.broker_epoch), left)
            except TimeoutError:
                break
            except ControllerError as exc:
                log.info("controlled shutdown: %s", exc.message)
                allowed = False
            if allowed and partitions_led_by(self.loader.image, self.node_id) == 0:
                log.info("broker %d leads no partition: shutting down", self.node_id)
                return True
            await self.clock.sleep(min(_SHUTDOWN_POLL_S, max(left, 0.0)))
        log.warning("broker %d stops while still leading partitions: the controlled shutdown "
                    "did not finish in %.0f s", self.node_id, self.controlled_shutdown_s)
        return False

    async def _end_predecessor(self, registration: bytes) -> None:
        """End the session (and controller term) of the process that used this data directory
        before, if it still holds them: this process holds the directory's lock
        (:mod:`brook.storage.dir_lock`), so that one is dead — killed -9 and restarted at once,
        there is nothing to wait out. Only a registration naming the incarnation recorded here
        and this broker's own endpoints counts, for the controller term too (a copy of the
        directory on another host is not this broker's past), and only while its inter-broker
        endpoint refuses connections: a copy of the directory started with the same
        configuration beside the broker it was copied from holds a lock of its own, and must
        not end a live broker's session. The new incarnation is recorded before registering."""
        path = self.config.metadata_log_dir / INCARNATION_FILE
        try:
            previous = path.read_bytes()[:64].decode("ascii", "replace").strip()
        except OSError:  # none recorded (or unreadable): nothing ended, the session is waited out
            previous = ""
        endpoints = json.loads(registration)["endpoints"]

        def ours(value: bytes) -> bool:
            try:
                info = json.loads(value)
            except ValueError:
                return False
            return (isinstance(info, dict) and info.get("incarnation") == previous
                    and info.get("endpoints") == endpoints)

        # The inter-broker endpoint, the one peers take a refusal of as a death: another
        # listener may be advertised at a load balancer that accepts whoever is behind it.
        probed = [ep for ep in endpoints if ep[0] == self.config.inter_broker_listener_name]
        if previous:
            while True:
                try:
                    # The registration is what ties that incarnation to these endpoints: without
                    # it the controller key naming it could be a live copy's on another host.
                    _, held = await self.client.get(self.registry.key(self.node_id))
                    if held is None or held.lease == 0 or not ours(held.value):
                        break
                    if not all(await asyncio.gather(
                            *(refuses(host, port) for _, host, port, _ in probed or endpoints))):
                        log.warning("the incarnation recorded in %s still listens on this "
                                    "broker's inter-broker endpoint: its session is not ended "
                                    "(a copy of a live broker's data directory?)", path)
                        break
                    if await self.client.revoke_holder(self.log.leader_key,
                                                       lambda v: _names(v, self.node_id, previous)):
                        log.info("ended the controller term of this broker's previous process")
                    if await self.client.revoke(held.lease):
                        log.info("ended the session of this broker's previous process")
                    break
                except EtcdUnavailable as exc:
                    log.warning("ending the previous process's session: %s", exc)
                    await self.clock.sleep(_RETRY_S)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.incarnation.hex() + "\n")
        tmp.replace(path)

    async def leaving(self) -> None:
        """The broker stops serving next (its listeners close): peers will judge it dead and
        end its session, which it must not take back by registering again."""
        await self.registry.stop_renewing()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.role.resign()
        await self.registry.deregister()
        await self.follower.stop()
        await self.client.close()

    async def _peer_dead(self, peer: Peer) -> bool:
        """A peer's process is gone (:mod:`brook.broker.peer_liveness`): end its session now
        rather than when its lease runs out. The active controller does so for any broker (its
        registration lapses and the controller fences it, electing new leaders from the ISR);
        the other brokers only for the active controller, ending its term too so that a new
        controller is elected at once. The leases revoked are the dead incarnation's only.
        False: nothing for this broker to do (it is not the controller, the peer is not)."""
        controller, incarnation = self.controller_id, peer.incarnation.hex()
        if peer.node_id == controller:
            if await self.client.revoke_holder(
                    self.log.leader_key, lambda v: _names(v, peer.node_id, incarnation)):
                log.warning("ended dead broker %d's controller term", peer.node_id)
        elif controller != self.node_id:
            return False
        if await self.client.revoke_holder(
                self.registry.key(peer.node_id), lambda v: _names(v, None, incarnation)):
            log.warning("ended dead broker %d's session", peer.node_id)
        return True

    async def _watch_controller(self) -> None:
        """Keep ``controller_id`` (what Metadata and DescribeCluster report) current."""
        key = self.log.leader_key
        while True:
            try:
                revision, kv = await self.client.get(key)
                self.controller_id = controller_node(kv.value) if kv is not None else -1
                async for events in self.client.watch(key, key + b"\0", revision + 1):
                    for ev in events:
                        self.controller_id = (
                            -1 if ev.kind == "delete" else controller_node(ev.kv.value))
            except (EtcdUnavailable, WatchCompacted) as exc:
                log.debug("controller watch resumes: %s", exc)
                await self.clock.sleep(_RETRY_S)

    def image(self) -> MetadataImage:
        return self.loader.image


def _names(value: bytes, node_id: int | None, incarnation_hex: str) -> bool:
    """Whether a registration or controller key's value was written by this incarnation."""
    try:
        info = json.loads(value)
    except ValueError:
        return False
    return (isinstance(info, dict) and info.get("incarnation") == incarnation_hex
            and (node_id is None or info.get("node_id") == node_id))


def registered(image: MetadataImage, node_id: int, incarnation: bytes) -> bool:
    """Whether ``image`` registers ``node_id`` as this process (``incarnation``), unfenced."""
    reg = image.cluster.brokers.get(node_id)
    return reg is not None and not reg.fenced and reg.incarnation_id == incarnation
