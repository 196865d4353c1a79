"""Metadata: brokers, topics, partitions and leaders, as the client's listener sees them.

Each broker is described by its advertised endpoint on the listener the request arrived on,
as Kafka does, so a client on the TLS port gets TLS addresses. Unknown topics are created
when both the request (v4+) and ``auto.create.topics.enable`` allow it: in the background
(:mod:`brook.broker.auto_topic_creation`), waited for briefly while a controller is known so
the client usually sees the new topic's leader at once, and answered LEADER_NOT_AVAILABLE (which
clients retry) while the creation is still under way.
"""

from __future__ import annotations

import logging

from brook.broker.context import RequestContext
from brook.broker.services import BrokerServices
from brook.metadata.controller.replication_control import ControllerError
from brook.metadata.controller.topic_names import (
    CLUSTER_METADATA_TOPIC,
    INTERNAL_TOPICS,
    validate_topic_name,
)
from brook.metadata.image import TopicImage
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.metadata import MetadataRequest, MetadataResponse

API_KEY = ApiKey.METADATA
MIN_VERSION = 0
MAX_VERSION = 12
REQUEST = MetadataRequest

log = logging.getLogger(__name__)

_ZERO = b"\x00" * 16
_RETRIABLE = (ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.NOT_CONTROLLER,
              ErrorCode.REQUEST_TIMED_OUT)
MAX_AUTO_CREATE_PER_REQUEST = 100
"""Topics one Metadata request may auto-create (Kafka has no bound). Creating a topic costs a
few filesystem calls and holds the controller, so a request naming thousands of unknown topics
would keep every other topic operation waiting; the rest are answered LEADER_NOT_AVAILABLE,
which clients retry, and are created by the following requests."""
_NO_OPS = -2147483648
# READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: all allowed
# while no authorizer is configured.
_ALL_TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))

Topic = MetadataResponse.MetadataResponseTopic
PartitionMeta = MetadataResponse.MetadataResponsePartition


def _topic(topic: TopicImage, include_ops: bool) -> Topic:
    return Topic(
        error_code=ErrorCode.NONE,
        name=topic.name,
        topic_id=topic.topic_id,
        is_internal=topic.name in INTERNAL_TOPICS,
        partitions=[
            PartitionMeta(
                error_code=ErrorCode.NONE if reg.leader >= 0 else ErrorCode.LEADER_NOT_AVAILABLE,
                partition_index=index,
                leader_id=reg.leader,
                leader_epoch=reg.leader_epoch,
                replica_nodes=list(reg.replicas),
                isr_nodes=list(reg.isr),
                offline_replicas=[],
            )
            for index, reg in sorted(topic.partitions.items())
        ],
        topic_authorized_operations=_ALL_TOPIC_OPS if include_ops else _NO_OPS,
    )


def _brokers(node: BrokerServices, listener: str) -> list[MetadataResponse.MetadataResponseBroker]:
    out = []
    for broker in sorted(node.image.cluster.brokers.values(), key=lambda b: b.broker_id):
        if broker.fenced:
            continue
        ep = broker.endpoint(listener)
        if ep is None:
            continue
        out.append(MetadataResponse.MetadataResponseBroker(
            node_id=broker.broker_id, host=ep.host, port=ep.port, rack=broker.rack))
    return out


async def handle(ctx: RequestContext, request: MetadataRequest) -> MetadataResponse:
    node = ctx.services
    version = ctx.api_version
    include_ops = version >= 8 and request.include_topic_authorized_operations
    topics_out: list[Topic] = []
    requested = request.topics
    if requested is None or (version == 0 and not requested):
        for topic in sorted(node.image.topics.by_name.values(), key=lambda t: t.name):
            topics_out.append(_topic(topic, include_ops))
    else:
        allow_create = node.config.auto_create_topics_enable and (
            version < 4 or request.allow_auto_topic_creation
        )
        to_create: list[str] = []
        for req in requested:
            # A topic is asked for by id when it names one (v12+; the Java client leaves the
            # name at its default "", not null) or, from v10, when its name is null.
            by_id = version >= 10 and (req.name is None or (
                version >= 12 and req.topic_id != _ZERO))
            if by_id:
                found = node.image.topics.by_id.get(req.topic_id)
                if found is None:
                    topics_out.append(Topic(error_code=ErrorCode.UNKNOWN_TOPIC_ID, name=None,
                                            topic_id=req.topic_id, partitions=[]))
                else:
                    topics_out.append(_topic(found, include_ops))
                continue
            name = req.name or ""
            found = node.image.topics.by_name.get(name)
            if found is not None:
                topics_out.append(_topic(found, include_ops))
            elif validate_topic_name(name) is not None:
                topics_out.append(Topic(error_code=ErrorCode.INVALID_TOPIC_EXCEPTION, name=name,
                                        topic_id=_ZERO, partitions=[]))
            elif allow_create and name not in INTERNAL_TOPICS and name != CLUSTER_METADATA_TOPIC:
                to_create.append(name)
                topics_out.append(Topic(error_code=-1, name=name, topic_id=_ZERO, partitions=[]))
            else:
                topics_out.append(Topic(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                        name=name, topic_id=_ZERO, partitions=[]))
        if to_create:
            outcomes = await node.auto_topic_creation.create(
                node.controller, list(dict.fromkeys(to_create))[:MAX_AUTO_CREATE_PER_REQUEST])
            for i, t in enumerate(topics_out):
                if t.error_code != -1:
                    continue
                created = node.image.topics.by_name.get(t.name or "")
                if created is not None:
                    topics_out[i] = _topic(created, include_ops)
                else:
                    # Being created (or refused, which the controller logs): clients retry.
                    outcome = outcomes.get(t.name or "")
                    if isinstance(outcome, ControllerError) and outcome.code not in _RETRIABLE:
                        log.info("auto-creating %r: %s", t.name, outcome.message)
                    topics_out[i] = Topic(error_code=ErrorCode.LEADER_NOT_AVAILABLE,
                                          name=t.name, topic_id=_ZERO, partitions=[])
    return MetadataResponse(
        throttle_time_ms=0,
        brokers=_brokers(node, ctx.listener_name),
        cluster_id=node.cluster_id,
        controller_id=node.controller.controller_id,
        topics=topics_out,
    )
