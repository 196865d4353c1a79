"""The controller's role in a cluster: campaign, catch up, act, step down — over any store.

Every broker of a cluster runs this loop (Kafka's combined mode). Elected, it waits until its
follower has applied the whole log, then makes its :class:`QuorumController` the active one:
brokers that register are registered, brokers whose registration lapsed are fenced, and every
``snapshot_bytes`` of records the image is snapshotted. The term ends the moment leadership is
lost or an append is refused; the controller stops acting at once and campaigns again.

The loop knows the store only through small protocols (an election, a fenced log, the broker
registrations, snapshots), so the same code runs against etcd in a broker and against the
in-memory store under the virtual-time simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Protocol

from brook.env.clock import Clock
from brook.metadata.controller.cluster_commit import ClusterCommit
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import ControllerError
from brook.metadata.follower import MetadataFollower
from brook.metadata.serde import encode_record
from brook.metadata.snapshot import image_records
from brook.raft.fenced import (
    FencedMetadataLog,
    Leadership,
    MetadataLogError,
    NotControllerError,
    StoreUnavailable,
)

__all__ = ["ControllerRole", "Election", "Registrations", "Snapshots"]

log = logging.getLogger(__name__)

_RETRY_S = 0.5

Registration = tuple[bytes, list[BrokerEndpointSpec], str | None]


class Election(Protocol):
    async def campaign(self) -> Leadership: ...

    def lost(self) -> bool: ...

    async def wait_lost(self) -> None: ...

    async def resign(self) -> None: ...


class Registrations(Protocol):
    def changes(self, assumed: Iterable[int] = ()) -> AsyncIterator[tuple[int, bytes | None]]: ...


class Snapshots(Protocol):
    async def write(self, leadership: Leadership, end: int, values: Sequence[bytes]) -> None: ...


class ControllerRole:
    """Lifecycle: ``run`` until cancelled; ``resign`` on the way out."""

    def __init__(self, node_id: int, controller: QuorumController, follower: MetadataFollower,
                 log_: FencedMetadataLog, registrations: Registrations,
                 new_election: Callable[[], Election],
                 parse_registration: Callable[[bytes], Registration], clock: Clock,
                 snapshots: Snapshots | None = None, snapshot_bytes: int = 20 * 1024 * 1024,
                 rebalance: tuple[float, int] | None = None,
                 ) -> None:
        self.node_id = node_id
        self.controller = controller
        self.follower = follower
        self.log = log_
        self.registrations = registrations
        self.new_election = new_election
        self.parse_registration = parse_registration
        self.clock = clock
        self.snapshots = snapshots
        self.snapshot_bytes = snapshot_bytes
        self.rebalance = rebalance
        """``(interval seconds, imbalance percentage)`` of the auto leader rebalance, or None."""
        self.election: Election | None = None
        self.terms: list[Leadership] = []
        """Every term this node held, in order (what the simulation's checkers read)."""

    async def run(self) -> None:
        while True:
            election = self.new_election()
            self.election = election
            leadership = await election.campaign()
            self.terms.append(leadership)
            try:
                end = await self.log.end_offset()
                await self.follower.wait_applied(end - 1)
                commit = ClusterCommit(self.log, self.follower, leadership, election.lost)
                self.controller.activate_cluster(commit)
                log.info("broker %d acts as the controller from offset %d", self.node_id, end)
                await self._act(election, commit)
            except StoreUnavailable as exc:
                log.warning("controller term %d: %s", leadership.epoch, exc)
            except MetadataLogError as exc:
                # The shared log cannot be read or extended as it stands (written by something
                # other than a controller): step down and let an operator see why, rather than
                # end this broker's candidacy silently.
                log.error("controller term %d ends: %s", leadership.epoch, exc)
                if self.follower.failure is not None:
                    log.critical("broker %d no longer campaigns: its image cannot follow the "
                                 "metadata log", self.node_id)
                    return  # after stepping down (below)
            finally:
                self.controller.deactivate()
                await election.resign()
                self.election = None
            await self.clock.sleep(_RETRY_S)

    async def resign(self) -> None:
        self.controller.deactivate()
        if self.election is not None:
            await self.election.resign()

    async def _act(self, election: Election, commit: ClusterCommit) -> None:
        """Turn registrations into records until the term ends."""
        loop = asyncio.get_running_loop()
        changes = loop.create_task(self._registrations())
        lost = loop.create_task(election.wait_lost())
        next_rebalance = (self.clock.monotonic() + self.rebalance[0]
                          if self.rebalance is not None else None)
        try:
            while not commit.ended and not lost.done() and not changes.done():
                await asyncio.wait([changes, lost], timeout=1.0,
                                   return_when=asyncio.FIRST_COMPLETED)
                if (self.snapshots is not None and commit.active()
                        and self.follower.bytes_since_snapshot >= self.snapshot_bytes):
                    await self._snapshot(commit)
                if commit.active():
                    await self._complete_reassignments()
                if (next_rebalance is not None and self.rebalance is not None
                        and self.clock.monotonic() >= next_rebalance and commit.active()):
                    next_rebalance = self.clock.monotonic() + self.rebalance[0]
                    await self._rebalance(self.rebalance[1])
        finally:
            for task in (changes, lost):
                task.cancel()
            for task in (changes, lost):
                with contextlib.suppress(asyncio.CancelledError, ControllerError):
                    await task

    async def _complete_reassignments(self) -> None:
        """Reassignments complete once their new replicas joined the ISR (AlterPartition,
        from the leader): checked every tick of the term."""
        try:
            done = await self.controller.complete_reassignments()
        except ControllerError as exc:
            log.info("reassignment check skipped: %s", exc.message)
            return
        if done:
            log.info("%d partition reassignment(s) completed", done)

    async def _rebalance(self, percentage: int) -> None:
        """Kafka's auto leader rebalance, while this node holds the term."""
        try:
            moved = await self.controller.rebalance_leaders(percentage)
        except ControllerError as exc:
            log.info("leader rebalance skipped: %s", exc.message)
            return
        if moved:
            log.info("leader rebalance: %d partition(s) back on their preferred replica", moved)

    async def _snapshot(self, commit: ClusterCommit) -> None:
        """Snapshot the image as it stands (immutable, at its offset) and trim the log below
        it; appends go on meanwhile, above the snapshot's offset."""
        assert self.snapshots is not None
        image = self.follower.image
        values = [encode_record(r) for r in image_records(image)]
        self.follower.bytes_since_snapshot = 0
        try:
            await self.snapshots.write(commit.leadership, image.offset, values)
        except (NotControllerError, StoreUnavailable, MetadataLogError) as exc:
            log.warning("metadata snapshot at %d not written: %s", image.offset, exc)

    async def _registrations(self) -> None:
        image = self.follower.image
        alive = [b.broker_id for b in image.cluster.brokers.values() if not b.fenced]
        async for node_id, payload in self.registrations.changes(alive):
            if payload is None:
                log.info("broker %d's registration lapsed: fencing it", node_id)
                await self.controller.fence_broker(node_id)
                continue
            try:
                incarnation, endpoints, rack = self.parse_registration(payload)
            except ValueError as exc:
                log.error("broker %d's registration is unreadable: %s", node_id, exc)
                continue
            await self.controller.register_broker(node_id, incarnation, endpoints, rack)
