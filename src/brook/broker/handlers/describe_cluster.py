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
# ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CREATE,
# DESCRIBE_TOKENS...: everything is allowed while no authorizer is configured.
_ALL_CLUSTER_OPS = sum(1 << op for op in (4, 7, 8, 9, 10, 11, 12, 13, 14))


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
