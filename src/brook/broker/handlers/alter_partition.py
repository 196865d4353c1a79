"""AlterPartition: a partition leader's ISR change, answered by the active controller.

Leaders send it (Kafka's inter-broker API) when a follower falls behind or catches up; only
the broker holding the controller's term decides, so any other broker answers NOT_CONTROLLER
and the leader looks for the controller again. Only requests on the inter-broker listener
are taken, and the requester must be registered at the broker epoch it names. Requests are by topic id (v2+); v3 names each
ISR member's broker epoch, which the controller checks against the member's registration.
"""

from __future__ import annotations

from brook.broker.context import RequestContext, from_inter_broker_listener
from brook.metadata.controller.alter_partition import NO_BROKER_EPOCH, IsrChange
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.alter_partition import AlterPartitionRequest, AlterPartitionResponse

API_KEY = ApiKey.ALTER_PARTITION
MIN_VERSION = 2
MAX_VERSION = 3
REQUEST = AlterPartitionRequest

_Partition = AlterPartitionResponse.PartitionData
_Topic = AlterPartitionResponse.TopicData


async def handle(ctx: RequestContext, request: AlterPartitionRequest) -> AlterPartitionResponse:
    node = ctx.services
    if not from_inter_broker_listener(ctx):
        return AlterPartitionResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if node.controller.active_controller_id != node.config.node_id:
        return AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER)
    changes: list[IsrChange] = []
    for topic in request.topics:
        for p in topic.partitions:
            if ctx.api_version >= 3:
                isr = tuple((s.broker_id, s.broker_epoch) for s in p.new_isr_with_epochs)
            else:
                isr = tuple((b, NO_BROKER_EPOCH) for b in p.new_isr)
            changes.append(IsrChange(topic.topic_id, p.partition_index, p.leader_epoch,
                                     p.partition_epoch, isr))
    try:
        results = await node.controller.alter_partition(
            request.broker_id, request.broker_epoch, changes)
    except ControllerError as exc:
        return AlterPartitionResponse(error_code=exc.code)
    if results and all(r.error == ErrorCode.STALE_BROKER_EPOCH for r in results):
        return AlterPartitionResponse(error_code=ErrorCode.STALE_BROKER_EPOCH)
    topics: list[AlterPartitionResponse.TopicData] = []
    for r in results:
        if not topics or topics[-1].topic_id != r.topic_id:
            topics.append(_Topic(topic_id=r.topic_id, partitions=[]))
        topics[-1].partitions.append(_Partition(
            partition_index=r.partition, error_code=r.error, leader_id=r.leader,
            leader_epoch=r.leader_epoch, isr=list(r.isr), partition_epoch=r.partition_epoch))
    return AlterPartitionResponse(topics=topics)
