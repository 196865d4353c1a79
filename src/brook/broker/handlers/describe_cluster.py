"""DescribeCluster: the cluster id, the controller and the brokers (AdminClient's view)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_cluster import (
    DescribeClusterRequest,
    DescribeClusterResponse,
)

API_KEY = ApiKey.DESCRIBE_CLUSTER
MIN_VERSION = 0
MAX_VERSION = 1
REQUEST = DescribeClusterRequest

_ENDPOINT_BROKERS = 1
_NO_OPS = -2147483648
# Every operation Kafka defines on the CLUSTER resource (AclEntry.supportedOperations):
# CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
# IDEMPOTENT_WRITE 12 — all allowed while no authorizer is configured. (Tokens are USER
# operations, WRITE a topic's.)
_ALL_CLUSTER_OPS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))


def handle(ctx: RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse:
    node = ctx.services
    if ctx.api_version >= 1 and request.endpoint_type != _ENDPOINT_BROKERS:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE,
            error_message="Only broker endpoints are served by brokers.",
            endpoint_type=request.endpoint_type, cluster_id=node.cluster_id, brokers=[],
        )
    brokers = []
    for broker in sorted(node.image.cluster.brokers.values(), key=lambda b: b.broker_id):
        ep = broker.endpoint(ctx.listener_name)
        if broker.fenced or ep is None:
            continue
        brokers.append(DescribeClusterResponse.DescribeClusterBroker(
            broker_id=broker.broker_id, host=ep.host, port=ep.port, rack=broker.rack))
    return DescribeClusterResponse(
        throttle_time_ms=0,
        error_code=ErrorCode.NONE,
        endpoint_type=_ENDPOINT_BROKERS,
        cluster_id=node.cluster_id,
        controller_id=node.controller.active_controller_id,
        brokers=brokers,
        cluster_authorized_operations=(
            _ALL_CLUSTER_OPS if request.include_cluster_authorized_operations else _NO_OPS
        ),
    )
