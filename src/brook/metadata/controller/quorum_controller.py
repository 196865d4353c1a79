"""The controller's event loop: one operation at a time, records committed, then published.

It writes through a ``RaftClient`` (any metadata quorum) and publishes through a
``MetadataLoader`` (which owns the publishers, so a broker without a controller still loads and
publishes images).

Operations run strictly one after another (an ``asyncio.Lock``), so each validates against the
image that includes every earlier operation, with no locking inside the planning code. An
operation's records are committed through the Raft client before they are replayed into the
image; publishers (the broker's metadata cache, the replica manager) see a change only once it
is durable, and see changes in log order.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from brook.env import Clock, Rng
from brook.metadata.controller.alter_partition import (
    IsrChange,
    IsrChangeResult,
    check_broker_epoch,
    plan_alter_partition,
)
from brook.metadata.controller.cluster_commit import ClusterCommit, not_controller
from brook.metadata.controller.configuration_control import (
    ConfigOp,
    plan_config_changes,
)
from brook.metadata.controller.leadership import LeadershipOperations
from brook.metadata.controller.partition_change import plan_broker_fenced, plan_broker_unfenced
from brook.metadata.controller.replication_control import (
    MAX_RECORDS_PER_USER_OP,
    ControllerError,
    CreatedTopic,
    TopicSpec,
    collision_index,
    excessive_batch,
    plan_create_partitions,
    plan_create_topic,
    plan_delete_topic,
    total_partitions,
)
from brook.metadata.controller.topic_names import unify_collision_chars
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, ZERO_UUID, MetadataImage
from brook.metadata.loader import MetadataLoader, Publisher
from brook.metadata.serde import encode_record
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from brook.protocol.metadata_records.producer_ids_record import ProducerIdsRecord
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord
from brook.raft.client import MetadataLogError, RaftClient
from brook.raft.fenced import MAX_BATCH_BYTES as MAX_FENCED_BATCH_BYTES
from brook.raft.fenced import batch_size

log = logging.getLogger(__name__)

PRODUCER_ID_BLOCK_SIZE = 1000
FATAL_EXIT_CODE = 1


def halt_process(exc: BaseException) -> None:
    """Kafka's process-terminating fault handler: log, then stop at once with a non-zero exit
    status, without the clean-shutdown path (which would flush the metadata log)."""
    log.critical("metadata log write failed; halting so a restart replays only what is "
                 "durable: %s", exc, exc_info=exc)
    logging.shutdown()
    os._exit(FATAL_EXIT_CODE)


MAX_BATCH_BYTES = 7 * 1024 * 1024
"""An operation's records are committed as one metadata log batch, which the log bounds at
8 MiB; an operation whose records would not fit is refused before anything is written."""


@dataclass(frozen=True, slots=True)
class BrokerEndpointSpec:
    name: str
    host: str
    port: int
    security_protocol: int


class QuorumController(LeadershipOperations):
    """Lifecycle: ``load`` replays the committed log into the first image; operations follow.
    Event-loop thread only."""

    def __init__(
        self,
        raft: RaftClient | None,
        clock: Clock,
        rng: Rng,
        default_partitions: int,
        default_replication_factor: int,
        fatal_fault_handler: Callable[[BaseException], None] | None = None,
        loader: MetadataLoader | None = None,
    ) -> None:
        self.raft = raft
        self.loader = loader if loader is not None else MetadataLoader(raft)
        self.fatal_fault_handler = fatal_fault_handler or halt_process
        self.clock = clock
        self.rng = rng
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self.image: MetadataImage = EMPTY_IMAGE
        self._lock = asyncio.Lock()
        self.cluster: ClusterCommit | None = None
        """Set while this node is a cluster's active controller; None on a single node."""
        self.clustered = False
        self.unclean_leader_election = False
        """The broker default of ``unclean.leader.election.enable`` (a topic may override it)."""
        self.shutting_down: set[int] = set()
        """Brokers in controlled shutdown: no longer elected leader. Kept in memory, as Kafka's
        heartbeat manager keeps it: a broker asks again on every heartbeat until it may stop,
        so a new controller learns it from the next one."""

    # -- loading and publishing ------------------------------------------------------------
    @property
    def publishers(self) -> list[Publisher]:
        """The loader's publishers (kept here for callers that wire a controller alone)."""
        return self.loader.publishers

    def load(
        self, before_publish: Callable[[MetadataImage], None] | None = None
    ) -> MetadataImage:
        """Replay the committed log through the loader; the controller validates against the
        image it publishes."""
        self.image = self.loader.load(before_publish)
        return self.image

    def activate(self, image: MetadataImage) -> None:
        """Take over from an image the loader has already replayed (the broker loads first)."""
        self.image = image

    def activate_cluster(self, commit: ClusterCommit) -> None:
        """Become a cluster's active controller: commits go to the shared log, fenced."""
        self.clustered = True
        self.cluster = commit
        self.image = self.loader.image

    def deactivate(self) -> None:
        """Stop acting as the controller at once (leadership lost or resigned)."""
        self.clustered = True
        self.cluster = None

    def _ensure_active(self) -> None:
        if not self.clustered:
            return
        if self.cluster is None or not self.cluster.active():
            raise not_controller()
        self.image = self.loader.image

    async def _publish_async(self, delta: MetadataDelta) -> None:
        self.image = delta.apply()
        await self.loader.publish(delta, self.image)

    async def _commit_in_parts(self, records: Sequence[Any]) -> None:
        """Commit the records of a broker's fencing or unfencing, in as many fenced appends as
        they need, in order. Each record stands on its own (a partition's new leader), so a
        cluster whose broker leads more partitions than one etcd request holds can still fence
        and unfence it; unlike a user's operation, refusing it would stall the controller."""
        if not self.clustered:
            await self._commit(records)
            return
        part: list[Any] = []
        size = 4
        for record in records:
            n = 4 + len(encode_record(record))
            if part and size + n > MAX_FENCED_BATCH_BYTES:
                await self._commit(part)
                part, size = [], 4
            part.append(record)
            size += n
        await self._commit(part)

    async def _commit(self, records: Sequence[Any]) -> None:
        """Append ``records`` to the metadata log, then replay and publish them.

        A failed append is fatal (Kafka's fault handler for the metadata log halts the
        process): whether the records reached the disk is unknown, so neither the client nor
        the image may be told either way; a restart replays exactly what is durable."""
        if not records:
            return
        values = [encode_record(r) for r in records]
        size = sum(len(v) for v in values)
        # A cluster's append is one etcd request, which etcd bounds far below the local log.
        limit = MAX_BATCH_BYTES
        if self.clustered:
            size = batch_size(values)
            limit = MAX_FENCED_BATCH_BYTES
        if size > limit:
            raise excessive_batch(
                f"The request's metadata records take {size} bytes, at most {limit}."
            )
        if self.clustered:
            if self.cluster is None:
                raise not_controller()
            await self.cluster.commit(values)
            self.image = self.loader.image
            return
        if self.raft is None:
            raise not_controller("No metadata log to append to.")
        try:
            last = await self.raft.append(values, self.clock.now_ms())
        except MetadataLogError as exc:
            self.fatal_fault_handler(exc)
            raise
        delta = MetadataDelta(self.image)
        first = last - len(records) + 1
        for i, record in enumerate(records):
            delta.replay(record, first + i)
        await self._publish_async(delta)

    def _new_topic_id(self) -> bytes:
        while True:
            topic_id = self.rng.uuid4_bytes()
            if topic_id != ZERO_UUID and topic_id not in self.image.topics.by_id:
                return topic_id

    # -- operations ------------------------------------------------------------------------
    async def register_broker(
        self,
        broker_id: int,
        incarnation_id: bytes,
        endpoints: Sequence[BrokerEndpointSpec],
        rack: str | None,
    ) -> None:
        """Record this broker's endpoints and rack, unless the image already says the same."""
        async with self._lock:
            self._ensure_active()
            current = self.image.cluster.brokers.get(broker_id)
            if (self.clustered and current is not None and not current.fenced
                    and current.incarnation_id != incarnation_id):
                # A new process under this id: the old one died without handing anything
                # over. Fenced first, as Kafka's handleBrokerUncleanShutdown does, so the
                # partitions it led change leader epoch: the restarted log may hold records
                # its ISR never copied, and its high watermark starts over from the log.
                await self._commit_in_parts([
                    *plan_broker_fenced(self.image, broker_id, self.unclean_leader_election,
                                        self.shutting_down),
                    BrokerRegistrationChangeRecord(
                        broker_id=broker_id, broker_epoch=current.broker_epoch, fenced=1),
                ])
                current = self.image.cluster.brokers.get(broker_id)
            eps = tuple((e.name, e.host, e.port, e.security_protocol) for e in endpoints)
            if (
                current is not None
                and not current.fenced
                and (not self.clustered or current.incarnation_id == incarnation_id)
                and current.rack == rack
                and tuple(
                    (e.name, e.host, e.port, e.security_protocol) for e in current.endpoints
                ) == eps
            ):
                # Registered already (a new controller reading every registration): offline
                # partitions it can lead still get it, in case a term ended between a fence
                # and the elections that follow it.
                await self._commit_in_parts(plan_broker_unfenced(
                    self.image, broker_id, self.unclean_leader_election, self.shutting_down))
                return
            epoch = (current.broker_epoch + 1) if current is not None else 1
            record = RegisterBrokerRecord(
                broker_id=broker_id,
                incarnation_id=incarnation_id,
                broker_epoch=epoch,
                end_points=[
                    RegisterBrokerRecord.BrokerEndpoint(
                        name=e.name, host=e.host, port=e.port, security_protocol=e.security_protocol
                    )
                    for e in endpoints
                ],
                rack=rack,
                fenced=False,
            )
            self.shutting_down.discard(broker_id)
            await self._commit_in_parts([record, *plan_broker_unfenced(
                self.image, broker_id, self.unclean_leader_election, self.shutting_down)])

    async def fence_broker(self, broker_id: int) -> None:
        """A broker whose liveness lapsed: fenced (KRaft's FenceBroker:
        BrokerRegistrationChangeRecord); it leaves the ISRs and the partitions it led get
        leaders from the rest of their ISR (``partition_change``)."""
        async with self._lock:
            self._ensure_active()
            self.shutting_down.discard(broker_id)
            current = self.image.cluster.brokers.get(broker_id)
            if current is None or current.fenced:
                return
            change = BrokerRegistrationChangeRecord(
                broker_id=broker_id, broker_epoch=current.broker_epoch, fenced=1)
            await self._commit_in_parts([
                *plan_broker_fenced(self.image, broker_id, self.unclean_leader_election,
                                    self.shutting_down),
                change,
            ])

    async def create_topics(
        self, specs: Sequence[TopicSpec], validate_only: bool
    ) -> list[CreatedTopic | ControllerError]:
        async with self._lock:
            try:
                self._ensure_active()
            except ControllerError as exc:
                return [exc for _ in specs]
            results: list[CreatedTopic | ControllerError] = []
            records: list[Any] = []
            seen: set[str] = set()
            # Computed once per request: per topic they made a batch quadratic in topics.
            collisions = collision_index(self.image.topics.by_name)
            start = total_partitions(self.image)
            for spec in specs:
                try:
                    created = plan_create_topic(
                        self.image, spec, self._new_topic_id(), self.default_partitions,
                        self.default_replication_factor, seen, collisions, start,
                    )
                except ControllerError as exc:
                    results.append(exc)
                    continue
                if len(records) + len(created.records) > MAX_RECORDS_PER_USER_OP:
                    results.append(excessive_batch(
                        f"The request creates more than {MAX_RECORDS_PER_USER_OP} records."
                    ))
                    continue
                seen.add(spec.name)
                collisions[unify_collision_chars(spec.name)] = spec.name
                records.extend(created.records)
                results.append(created)
            if not validate_only:
                try:
                    await self._commit(records)
                except ControllerError as exc:
                    return [exc for _ in specs]
            return results

    async def delete_topics(
        self, targets: Sequence[tuple[str | None, bytes | None]]
    ) -> list[tuple[str | None, bytes, ControllerError | None]]:
        async with self._lock:
            try:
                self._ensure_active()
            except ControllerError as exc:
                return [(name, topic_id or ZERO_UUID, exc) for name, topic_id in targets]
            out: list[tuple[str | None, bytes, ControllerError | None]] = []
            records: list[Any] = []
            for name, topic_id in targets:
                try:
                    recs = plan_delete_topic(self.image, name, topic_id)
                except ControllerError as exc:
                    out.append((name, topic_id or ZERO_UUID, exc))
                    continue
                topic = self.image.topics.by_id[recs[0].topic_id]
                if any(r.topic_id == topic.topic_id for r in records):
                    out.append((topic.name, topic.topic_id, None))
                    continue
                records.extend(recs)
                out.append((topic.name, topic.topic_id, None))
            try:
                await self._commit(records)
            except ControllerError as exc:
                return [(name, topic_id, exc) for name, topic_id, _ in out]
            return out

    async def create_partitions(
        self, requests: Sequence[tuple[str, int, list[list[int]] | None]], validate_only: bool
    ) -> list[ControllerError | None]:
        async with self._lock:
            try:
                self._ensure_active()
            except ControllerError as exc:
                return [exc for _ in requests]
            out: list[ControllerError | None] = []
            records: list[Any] = []
            for name, count, assignments in requests:
                try:
                    records.extend(plan_create_partitions(self.image, name, count, assignments))
                    out.append(None)
                except ControllerError as exc:
                    out.append(exc)
                if len(records) > MAX_RECORDS_PER_USER_OP:
                    # Kafka bounds the records of the whole request, not of each topic: the
                    # request fails as one.
                    error = excessive_batch(
                        f"More than {MAX_RECORDS_PER_USER_OP} partitions requested; that is "
                        "the bound per request."
                    )
                    return [error for _ in requests]
            if not validate_only:
                try:
                    await self._commit(records)
                except ControllerError as exc:
                    return [exc for _ in requests]
            return out

    async def alter_configs(
        self, changes: Sequence[tuple[int, str, Sequence[ConfigOp]]], validate_only: bool,
        incremental: bool,
    ) -> list[ControllerError | None]:
        """Apply config changes per resource; non-incremental replaces every override."""
        async with self._lock:
            try:
                self._ensure_active()
            except ControllerError as exc:
                return [exc for _ in changes]
            out: list[ControllerError | None] = []
            records: list[Any] = []
            for resource_type, resource_name, ops in changes:
                try:
                    records.extend(
                        plan_config_changes(self.image, resource_type, resource_name, ops,
                                            incremental)
                    )
                    out.append(None)
                except ControllerError as exc:
                    out.append(exc)
            if not validate_only:
                try:
                    await self._commit(records)
                except ControllerError as exc:
                    return [exc for _ in changes]
            return out

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]:
        """Reserve the next block of producer ids; the block survives restarts because the
        reservation is a committed record."""
        async with self._lock:
            self._ensure_active()
            start = self.image.producer_ids.next_producer_id
            record = ProducerIdsRecord(
                broker_id=broker_id, broker_epoch=-1,
                next_producer_id=start + PRODUCER_ID_BLOCK_SIZE,
            )
            await self._commit([record])
            return start, PRODUCER_ID_BLOCK_SIZE

    async def alter_partition(
        self, broker_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> list[IsrChangeResult]:
        """A partition leader's ISR changes (see ``alter_partition``): committed as one batch,
        answered with each partition's new state. A requester not at its registered broker
        epoch gets STALE_BROKER_EPOCH for every partition; raises NOT_CONTROLLER off-term."""
        async with self._lock:
            self._ensure_active()
            stale = check_broker_epoch(self.image, broker_id, broker_epoch)
            if stale != ErrorCode.NONE:
                return [IsrChangeResult(c.topic_id, c.partition, stale) for c in changes]
            results, records = plan_alter_partition(self.image, broker_id, changes)
            await self._commit(records)
            return results


__all__ = [
    "BrokerEndpointSpec",
    "ControllerError",
    "CreatedTopic",
    "ErrorCode",
    "QuorumController",
    "TopicSpec",
]
