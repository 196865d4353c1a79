"""The controller's leadership operations: controlled shutdown, ElectLeaders, the auto leader
rebalance and partition reassignments.

A part of :class:`~brook.metadata.controller.quorum_controller.QuorumController` (which
mixes it in): each operation runs under the controller's lock against its current image,
plans with ``partition_change`` / ``reassignment`` and commits record by record, since each
record stands alone (a partition's new leader or replicas).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from brook.metadata.controller.partition_change import (
    Election,
    ElectionResult,
    partitions_led_by,
    plan_controlled_shutdown,
    plan_elections,
    plan_leader_rebalance,
)
from brook.metadata.controller.reassignment import (
    OngoingReassignment,
    list_reassignments,
    plan_alter_reassignments,
    plan_complete_reassignments,
)
from brook.metadata.controller.replication_control import (
    MAX_RECORDS_PER_USER_OP,
    ControllerError,
    excessive_batch,
)
from brook.metadata.image import MetadataImage
from brook.protocol.errors import ErrorCode

__all__ = ["LeadershipOperations"]


class LeadershipOperations:
    """Mixed into ``QuorumController``, which provides the state and commit path below."""

    image: MetadataImage
    _lock: asyncio.Lock
    shutting_down: set[int]

    def _ensure_active(self) -> None:
        raise NotImplementedError

    async def _commit_in_parts(self, records: Sequence[Any]) -> None:
        raise NotImplementedError

    async def controlled_shutdown(self, broker_id: int, broker_epoch: int) -> bool:
        """A broker wants to stop (BrokerHeartbeat ``want_shut_down``): its leaderships move
        to the other ISR members and it leaves the ISRs (Kafka's
        ``handleBrokerInControlledShutdown``). True once it leads nothing: it may stop.

        A broker epoch other than the registered one is STALE_BROKER_EPOCH (only the broker
        itself knows it; a stray request moves nothing); an unknown or fenced broker leads
        nothing and may stop at once."""
        async with self._lock:
            self._ensure_active()
            current = self.image.cluster.brokers.get(broker_id)
            if current is None or current.fenced:
                return True
            if broker_epoch != current.broker_epoch:
                raise ControllerError(ErrorCode.STALE_BROKER_EPOCH,
                                      f"Broker {broker_id} is registered with epoch "
                                      f"{current.broker_epoch}, not {broker_epoch}.")
            self.shutting_down.add(broker_id)
            await self._commit_in_parts(
                plan_controlled_shutdown(self.image, broker_id, self.shutting_down))
            return partitions_led_by(self.image, broker_id) == 0

    async def elect_leaders(
        self, election: int, targets: Sequence[tuple[str, int]] | None
    ) -> list[ElectionResult]:
        """ElectLeaders: preferred or unclean elections, answered per partition."""
        async with self._lock:
            self._ensure_active()
            results, records = plan_elections(self.image, Election(election), targets,
                                              self.shutting_down)
            await self._commit_in_parts(records)
            return results

    async def alter_partition_reassignments(
        self, requests: Sequence[tuple[str, int, Sequence[int] | None]]
    ) -> list[ElectionResult]:
        """Start, change or cancel reassignments (``reassignment``); those that need no new
        replica complete at once."""
        async with self._lock:
            self._ensure_active()
            if len(requests) > MAX_RECORDS_PER_USER_OP:
                raise excessive_batch(f"{len(requests)} partitions to reassign, at most "
                                      f"{MAX_RECORDS_PER_USER_OP} per request.")
            results, records = plan_alter_reassignments(self.image, requests, self.shutting_down)
            await self._commit_in_parts(records)
            await self._commit_in_parts(
                plan_complete_reassignments(self.image, self.shutting_down))
            return results

    async def list_partition_reassignments(
        self, targets: Sequence[tuple[str, int]] | None
    ) -> list[OngoingReassignment]:
        async with self._lock:
            self._ensure_active()
            return list_reassignments(self.image, targets)

    async def complete_reassignments(self) -> int:
        """Complete the reassignments whose target replicas have all joined the ISR."""
        async with self._lock:
            self._ensure_active()
            records = plan_complete_reassignments(self.image, self.shutting_down)
            await self._commit_in_parts(records)
            return len(records)

    async def rebalance_leaders(self, percentage: int) -> int:
        """One auto leader rebalance check; the number of partitions moved back."""
        async with self._lock:
            self._ensure_active()
            records = plan_leader_rebalance(self.image, percentage, self.shutting_down)
            await self._commit_in_parts(records)
            return len(records)
