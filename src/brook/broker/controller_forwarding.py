"""The controller channel of a cluster broker: local while this broker is the active
controller, forwarded over the Kafka protocol to the one that is otherwise.

Whatever reaches the controller — an admin request a client sent to this broker, a topic
auto-created by Metadata or FindCoordinator, a block of producer ids — is answered the same way
on every broker: if this broker holds the controller's term, its controller decides; if another
broker does, the operation is sent there as the Kafka request it stands for (CreateTopics,
DeleteTopics, CreatePartitions, IncrementalAlterConfigs/AlterConfigs, AllocateProducerIds,
ElectLeaders, the partition reassignment requests, and a controlled shutdown's BrokerHeartbeat
with ``want_shut_down``), and
its per-item errors come back as they were decided. With no controller known, or the controller
unreachable, items fail with NOT_CONTROLLER / REQUEST_TIMED_OUT, which clients retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from brook.broker.context import FORWARDED, FORWARDING_CLIENT_PREFIX
from brook.broker.inter_broker_client import InterBrokerClient, InterBrokerError, PeerUnreachable
from brook.metadata.controller.alter_partition import IsrChange, IsrChangeResult
from brook.metadata.controller.cluster_commit import not_controller
from brook.metadata.controller.configuration_control import ConfigOp
from brook.metadata.controller.partition_change import ElectionResult
from brook.metadata.controller.quorum_controller import QuorumController
from brook.metadata.controller.reassignment import OngoingReassignment
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec
from brook.metadata.image import ZERO_UUID, MetadataImage
from brook.protocol._codec import Message
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.allocate_producer_ids import (
    AllocateProducerIdsRequest,
    AllocateProducerIdsResponse,
)
from brook.protocol.messages.alter_configs import AlterConfigsRequest, AlterConfigsResponse
from brook.protocol.messages.alter_partition import AlterPartitionRequest, AlterPartitionResponse
from brook.protocol.messages.alter_partition_reassignments import (
    AlterPartitionReassignmentsRequest,
    AlterPartitionReassignmentsResponse,
)
from brook.protocol.messages.broker_heartbeat import (
    BrokerHeartbeatRequest,
    BrokerHeartbeatResponse,
)
from brook.protocol.messages.create_partitions import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
)
from brook.protocol.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse
from brook.protocol.messages.delete_topics import DeleteTopicsRequest, DeleteTopicsResponse
from brook.protocol.messages.elect_leaders import ElectLeadersRequest, ElectLeadersResponse
from brook.protocol.messages.incremental_alter_configs import (
    IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
)
from brook.protocol.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest,
    ListPartitionReassignmentsResponse,
)

__all__ = ["ForwardingControllerChannel"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
_TIMEOUT_MS = 30_000
_WAIT_STEP_S = 0.2
_WAIT_STEPS = 75
"""How long a request waits out a controller change (15 s: a lapsed lease, etcd's slack on
it, the new controller catching up) before it is answered NOT_CONTROLLER, as Kafka's
forwarding manager holds requests while no controller is known."""


def _code(code: int) -> ErrorCode:
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def _error(code: int, message: str | None) -> ControllerError:
    error = _code(code)
    return ControllerError(error, message or error.name)


class _NowLocal(Exception):
    """While a request waited to be forwarded, this broker became the controller."""


P = ParamSpec("P")
R = TypeVar("R")


def _rerouted(method: Callable[Concatenate[ForwardingControllerChannel, P], Coroutine[Any, Any, R]],
              ) -> Callable[Concatenate[ForwardingControllerChannel, P], Coroutine[Any, Any, R]]:
    """Run the operation again, locally, when this broker took over while it waited."""
    async def routed(self: ForwardingControllerChannel, /, *args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(4):
            try:
                return await method(self, *args, **kwargs)
            except _NowLocal:
                continue
        raise not_controller("The controller keeps changing; retry.")
    return routed


class ForwardingControllerChannel:
    """:class:`~brook.broker.controller_channel.ControllerChannel` for a cluster broker."""

    def __init__(self, controller: QuorumController, node_id: int,
                 controller_id: Callable[[], int], image: Callable[[], MetadataImage],
                 listener_name: str) -> None:
        self._controller = controller
        self._node_id = node_id
        self._controller_id = controller_id
        self._image = image
        self._listener = listener_name
        self._client: InterBrokerClient | None = None
        self._waiting = 0
        """Operations now waiting out a controller change."""

    @property
    def controller_id(self) -> int:
        """This broker: it takes admin requests and forwards them to the active controller,
        so a client never waits on a controller that just died (KRaft brokers likewise name
        a live broker in Metadata)."""
        return self._node_id

    @property
    def active_controller_id(self) -> int:
        return self._controller_id()

    def changing(self) -> bool:
        return self._waiting > 0

    async def _wait_step(self) -> None:
        self._waiting += 1
        try:
            await asyncio.sleep(_WAIT_STEP_S)
        finally:
            self._waiting -= 1

    def _local(self) -> bool:
        return self._controller.cluster is not None and self._controller.cluster.active()

    def _peer(self) -> InterBrokerClient:
        target = self._controller_id()
        endpoint = self._image().cluster.endpoint(target, self._listener) if target >= 0 else None
        if endpoint is None or target == self._node_id:
            raise not_controller("No active controller is known yet.")
        client = self._client
        if client is None or (client.host, client.port) != (endpoint.host, endpoint.port):
            if client is not None:
                client.close()
            client = InterBrokerClient(endpoint.host, endpoint.port,
                                       f"{FORWARDING_CLIENT_PREFIX}{self._node_id}")
            self._client = client
        return client

    async def _settle(self) -> bool:
        """Wait out a controller change: True once this broker holds the term, False once
        another broker is known to (or the wait is over: forwarding then fails clearly)."""
        for _ in range(_WAIT_STEPS):
            if self._local():
                return True
            try:
                self._peer()
                return False
            except ControllerError:
                await self._wait_step()
        return self._local()

    async def _forward(self, request: Message, version: int, response_type: type[M]) -> M:
        if FORWARDED.get():
            raise not_controller("This broker is not the active controller; a forwarded "
                                 "request is not forwarded again.")
        for _ in range(_WAIT_STEPS):
            client = self._peer()
            try:
                return await client.send(request, version, response_type)
            except PeerUnreachable as exc:
                # Nothing was sent: the controller died and its lease has not lapsed yet.
                log.info("the controller is unreachable (%s); waiting for the next one", exc)
                await self._wait_step()
                if not await self._settle() and self._controller_id() != self._node_id:
                    continue
                raise _NowLocal from exc  # this broker took over meanwhile
            except InterBrokerError as exc:
                log.warning("forwarding to the controller failed: %s", exc)
                raise ControllerError(ErrorCode.REQUEST_TIMED_OUT,
                                      "The controller could not be reached.") from exc
        raise ControllerError(ErrorCode.REQUEST_TIMED_OUT, "The controller could not be reached.")

    @_rerouted
    async def create_topics(
        self, specs: Sequence[TopicSpec], validate_only: bool
    ) -> list[CreatedTopic | ControllerError]:
        if await self._settle():
            return await self._controller.create_topics(specs, validate_only)
        request = CreateTopicsRequest(
            topics=[CreateTopicsRequest.CreatableTopic(
                name=s.name, num_partitions=s.num_partitions,
                replication_factor=s.replication_factor,
                assignments=[CreateTopicsRequest.CreatableReplicaAssignment(
                    partition_index=i, broker_ids=list(b)) for i, b in s.assignments.items()],
                configs=[CreateTopicsRequest.CreatableTopicConfig(name=k, value=v)
                         for k, v in s.configs.items()],
            ) for s in specs],
            timeout_ms=_TIMEOUT_MS, validate_only=validate_only,
        )
        try:
            response = await self._forward(request, 7, CreateTopicsResponse)
        except ControllerError as exc:
            return [exc for _ in specs]
        by_name = {t.name: t for t in response.topics}
        out: list[CreatedTopic | ControllerError] = []
        for spec in specs:
            t = by_name.get(spec.name)
            if t is None:
                out.append(_error(ErrorCode.UNKNOWN_SERVER_ERROR, "No answer for this topic."))
            elif t.error_code:
                out.append(_error(t.error_code, t.error_message))
            else:
                out.append(CreatedTopic(spec.name, t.topic_id, t.num_partitions,
                                        t.replication_factor, []))
        return out

    @_rerouted
    async def delete_topics(
        self, targets: Sequence[tuple[str | None, bytes | None]]
    ) -> list[tuple[str | None, bytes, ControllerError | None]]:
        if await self._settle():
            return await self._controller.delete_topics(targets)
        request = DeleteTopicsRequest(
            topics=[DeleteTopicsRequest.DeleteTopicState(name=n, topic_id=i or ZERO_UUID)
                    for n, i in targets],
            timeout_ms=_TIMEOUT_MS,
        )
        try:
            response = await self._forward(request, 6, DeleteTopicsResponse)
        except ControllerError as exc:
            return [(n, i or ZERO_UUID, exc) for n, i in targets]
        return [
            (r.name, r.topic_id, _error(r.error_code, r.error_message) if r.error_code else None)
            for r in response.responses
        ]

    @_rerouted
    async def create_partitions(
        self, requests: Sequence[tuple[str, int, list[list[int]] | None]], validate_only: bool
    ) -> list[ControllerError | None]:
        if await self._settle():
            return await self._controller.create_partitions(requests, validate_only)
        request = CreatePartitionsRequest(
            topics=[CreatePartitionsRequest.CreatePartitionsTopic(
                name=name, count=count,
                assignments=None if assignments is None else [
                    CreatePartitionsRequest.CreatePartitionsAssignment(broker_ids=list(a))
                    for a in assignments],
            ) for name, count, assignments in requests],
            timeout_ms=_TIMEOUT_MS, validate_only=validate_only,
        )
        try:
            response = await self._forward(request, 3, CreatePartitionsResponse)
        except ControllerError as exc:
            return [exc for _ in requests]
        by_name = {r.name: r for r in response.results}
        return [
            _error(r.error_code, r.error_message) if (r := by_name.get(name)) and r.error_code
            else None if r else _error(ErrorCode.UNKNOWN_SERVER_ERROR, "No answer.")
            for name, _, _ in requests
        ]

    @_rerouted
    async def alter_configs(
        self, changes: Sequence[tuple[int, str, Sequence[ConfigOp]]], validate_only: bool,
        incremental: bool,
    ) -> list[ControllerError | None]:
        if await self._settle():
            return await self._controller.alter_configs(changes, validate_only, incremental)
        try:
            if incremental:
                inc = IncrementalAlterConfigsRequest(resources=[
                    IncrementalAlterConfigsRequest.AlterConfigsResource(
                        resource_type=rt, resource_name=rn,
                        configs=[IncrementalAlterConfigsRequest.AlterableConfig(
                            name=o.name, config_operation=o.op, value=o.value) for o in ops])
                    for rt, rn, ops in changes], validate_only=validate_only)
                results = (await self._forward(inc, 1, IncrementalAlterConfigsResponse)).responses
            else:
                full = AlterConfigsRequest(resources=[
                    AlterConfigsRequest.AlterConfigsResource(
                        resource_type=rt, resource_name=rn,
                        configs=[AlterConfigsRequest.AlterableConfig(name=o.name, value=o.value)
                                 for o in ops])
                    for rt, rn, ops in changes], validate_only=validate_only)
                results = (await self._forward(full, 2, AlterConfigsResponse)).responses  # type: ignore[assignment]
        except ControllerError as exc:
            return [exc for _ in changes]
        return [_error(r.error_code, r.error_message) if r.error_code else None for r in results]

    @_rerouted
    async def allocate_producer_ids(self, broker_id: int) -> tuple[int, int]:
        if await self._settle():
            return await self._controller.allocate_producer_ids(broker_id)
        response = await self._forward(
            AllocateProducerIdsRequest(broker_id=broker_id, broker_epoch=-1), 0,
            AllocateProducerIdsResponse)
        if response.error_code:
            raise _error(response.error_code, None)
        return response.producer_id_start, response.producer_id_len

    @_rerouted
    async def alter_partition(
        self, broker_id: int, broker_epoch: int, changes: Sequence[IsrChange]
    ) -> list[IsrChangeResult]:
        if await self._settle():
            return await self._controller.alter_partition(broker_id, broker_epoch, changes)
        by_topic: dict[bytes, list[IsrChange]] = {}
        for c in changes:
            by_topic.setdefault(c.topic_id, []).append(c)
        request = AlterPartitionRequest(broker_id=broker_id, broker_epoch=broker_epoch, topics=[
            AlterPartitionRequest.TopicData(topic_id=tid, partitions=[
                AlterPartitionRequest.PartitionData(
                    partition_index=c.partition, leader_epoch=c.leader_epoch,
                    partition_epoch=c.partition_epoch,
                    new_isr_with_epochs=[AlterPartitionRequest.BrokerState(broker_id=b,
                                                                           broker_epoch=e)
                                         for b, e in c.new_isr])
                for c in cs])
            for tid, cs in by_topic.items()])
        response = await self._forward(request, 3, AlterPartitionResponse)
        if response.error_code:
            raise _error(response.error_code, None)
        return [
            IsrChangeResult(t.topic_id, p.partition_index, _error(p.error_code, None).code,
                            p.leader_id, p.leader_epoch, tuple(p.isr), p.partition_epoch)
            for t in response.topics for p in t.partitions
        ]

    @_rerouted
    async def elect_leaders(
        self, election: int, targets: Sequence[tuple[str, int]] | None
    ) -> list[ElectionResult]:
        if await self._settle():
            return await self._controller.elect_leaders(election, targets)
        by_topic: dict[str, list[int]] = {}
        for topic, index in targets or ():
            by_topic.setdefault(topic, []).append(index)
        request = ElectLeadersRequest(
            election_type=election, timeout_ms=_TIMEOUT_MS,
            topic_partitions=None if targets is None else [
                ElectLeadersRequest.TopicPartitions(topic=t, partitions=p)
                for t, p in by_topic.items()],
        )
        response = await self._forward(request, 2, ElectLeadersResponse)
        if response.error_code:
            raise _error(response.error_code, None)
        return [
            ElectionResult(t.topic, r.partition_id, _code(r.error_code),
                           r.error_message)
            for t in response.replica_election_results for r in t.partition_result
        ]

    @_rerouted
    async def controlled_shutdown(self, broker_id: int, broker_epoch: int) -> bool:
        if await self._settle():
            return await self._controller.controlled_shutdown(broker_id, broker_epoch)
        response = await self._forward(
            BrokerHeartbeatRequest(broker_id=broker_id, broker_epoch=broker_epoch,
                                   current_metadata_offset=self._image().offset,
                                   want_shut_down=True),
            1, BrokerHeartbeatResponse)
        if response.error_code:
            raise _error(response.error_code, None)
        return response.should_shut_down

    @_rerouted
    async def alter_partition_reassignments(
        self, requests: Sequence[tuple[str, int, Sequence[int] | None]]
    ) -> list[ElectionResult]:
        if await self._settle():
            return await self._controller.alter_partition_reassignments(requests)
        by_topic: dict[str, list[AlterPartitionReassignmentsRequest.ReassignablePartition]] = {}
        for topic, index, target in requests:
            by_topic.setdefault(topic, []).append(
                AlterPartitionReassignmentsRequest.ReassignablePartition(
                    partition_index=index, replicas=None if target is None else list(target)))
        request = AlterPartitionReassignmentsRequest(timeout_ms=_TIMEOUT_MS, topics=[
            AlterPartitionReassignmentsRequest.ReassignableTopic(name=t, partitions=p)
            for t, p in by_topic.items()])
        response = await self._forward(request, 0, AlterPartitionReassignmentsResponse)
        if response.error_code:
            raise _error(response.error_code, response.error_message)
        return [ElectionResult(t.name, r.partition_index, _code(r.error_code), r.error_message)
                for t in response.responses for r in t.partitions]

    @_rerouted
    async def list_partition_reassignments(
        self, targets: Sequence[tuple[str, int]] | None
    ) -> list[OngoingReassignment]:
        if await self._settle():
            return await self._controller.list_partition_reassignments(targets)
        by_topic: dict[str, list[int]] = {}
        for topic, index in targets or ():
            by_topic.setdefault(topic, []).append(index)
        request = ListPartitionReassignmentsRequest(
            timeout_ms=_TIMEOUT_MS, topics=None if targets is None else [
                ListPartitionReassignmentsRequest.ListPartitionReassignmentsTopics(
                    name=t, partition_indexes=p) for t, p in by_topic.items()])
        response = await self._forward(request, 0, ListPartitionReassignmentsResponse)
        if response.error_code:
            raise _error(response.error_code, response.error_message)
        return [OngoingReassignment(t.name, p.partition_index, tuple(p.replicas),
                                    tuple(p.adding_replicas), tuple(p.removing_replicas))
                for t in response.topics for p in t.partitions]
