"""How a broker's request handlers reach the controller.

Admin requests (CreateTopics, DeleteTopics, CreatePartitions, the config alterations) and
producer-id blocks go through a ``ControllerChannel``: today ``LocalControllerChannel`` calls
the controller in this process; a channel that forwards over the network (Kafka's
``BrokerToControllerChannelManager``) implements the same calls when the controller lives
elsewhere. ``controller_id`` is what Metadata and DescribeCluster report, so it comes from the
channel, never from this broker's own id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from brook.metadata.controller.alter_partition import IsrChange, IsrChangeResult
from brook.metadata.controller.configuration_control import ConfigOp
from brook.metadata.controller.partition_change import ElectionResult
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.controller.reassignment import OngoingReassignment
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec


class ControllerChannel(Protocol):
    """The controller operations a broker forwards; results as the controller returns them."""

    @property
    def controller_id(self) -> int:
        """What Metadata names as the controller: where clients send admin requests. In a
        cluster this is this broker itself (it forwards them), as KRaft brokers name a live
        broker rather than a controller clients cannot reach."""
        ...

    @property
    def active_controller_id(self) -> int:
        """The node actually holding the controller's term (DescribeCluster), -1 if none."""
        ...

    def changing(self) -> bool:
        """True while an operation waits out a controller change (none known, or the known
        one unreachable): what is sent now would wait too."""
        ...

    async def create_topics(
        self, specs: Sequence[TopicSpec], validate_only: bool
    ) -> list[CreatedTopic | ControllerError]: ...

    async def delete_topics(
        self, targets: Sequence[tuple[str | None, bytes | None]]
    ) -> list[tuple[str | None, bytes, ControllerError | None]]: ...

    async def create_partitions(
        self, requests: Sequence[tuple[str, int, list[list[int]] | None]], validate_only: bool
    ) -> list[ControllerError | None]: ...

    async def alter_configs(
        self, changes: Sequence[tuple[int, str, Sequence[ConfigOp]]], validate_only: bool,
        incremental: bool,
    ) -> list[ControllerError | None]: ...

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]: ...

    async def alter_partition(
        self, broker_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> list[IsrChangeResult]:
        """A leader's ISR changes; raises ``ControllerError`` when no controller answered."""
        ...

    async def elect_leaders(
        self, election: int, targets: Sequence[tuple[str, int]] | None
    ) -> list[ElectionResult]: ...

    async def controlled_shutdown(self, broker_id: int, broker_epoch: int) -> bool:
        """Move ``broker_id``'s leaderships away; True once it leads nothing."""
        ...

    async def alter_partition_reassignments(
        self, requests: Sequence[tuple[str, int, Sequence[int] | None]]
    ) -> list[ElectionResult]: ...

    async def list_partition_reassignments(
        self, targets: Sequence[tuple[str, int]] | None
    ) -> list[OngoingReassignment]: ...


class LocalControllerChannel:
    """The controller runs in this process (combined mode): calls go straight to it."""

    __slots__ = ("_controller", "_controller_id")

    def __init__(self, controller: QuorumController, controller_id: int | Callable[[], int]) -> None:
        self._controller = controller
        self._controller_id = controller_id

    @property
    def controller_id(self) -> int:
        """A fixed id on a single node; in a cluster, whoever holds the election now."""
        cid = self._controller_id
        return cid if isinstance(cid, int) else cid()

    @property
    def active_controller_id(self) -> int:
        return self.controller_id

    def changing(self) -> bool:
        return False

    async def create_topics(
        self, specs: Sequence[TopicSpec], validate_only: bool
    ) -> list[CreatedTopic | ControllerError]:
        return await self._controller.create_topics(specs, validate_only)

    async def delete_topics(
        self, targets: Sequence[tuple[str | None, bytes | None]]
    ) -> list[tuple[str | None, bytes, ControllerError | None]]:
        return await self._controller.delete_topics(targets)

    async def create_partitions(
        self, requests: Sequence[tuple[str, int, list[list[int]] | None]], validate_only: bool
    ) -> list[ControllerError | None]:
        return await self._controller.create_partitions(requests, validate_only)

    async def alter_configs(
        self, changes: Sequence[tuple[int, str, Sequence[ConfigOp]]], validate_only: bool,
        incremental: bool,
    ) -> list[ControllerError | None]:
        return await self._controller.alter_configs(changes, validate_only, incremental)

    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]:
        return await self._controller.allocate_producer_ids(broker_id)

    async def alter_partition(
        self, broker_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> list[IsrChangeResult]:
        return await self._controller.alter_partition(broker_id, broker_epoch, changes)

    async def elect_leaders(
        self, election: int, targets: Sequence[tuple[str, int]] | None
    ) -> list[ElectionResult]:
        return await self._controller.elect_leaders(election, targets)

    async def controlled_shutdown(self, broker_id: int, broker_epoch: int) -> bool:
        """A single node has nobody to hand its partitions to: it may stop at once, and a
        stray BrokerHeartbeat cannot take its partitions offline."""
        return True

    async def alter_partition_reassignments(
        self, requests: Sequence[tuple[str, int, Sequence[int] | None]]
    ) -> list[ElectionResult]:
        return await self._controller.alter_partition_reassignments(requests)

    async def list_partition_reassignments(
        self, targets: Sequence[tuple[str, int]] | None
    ) -> list[OngoingReassignment]:
        return await self._controller.list_partition_reassignments(targets)
