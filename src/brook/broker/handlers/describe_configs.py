"""DescribeConfigs for topics and for this broker, with synonyms and documentation."""

from __future__ import annotations

from brook.broker.configs import Row, describe_broker_configs, describe_topic_configs
from brook.broker.context import RequestContext
from brook.metadata.image import RESOURCE_BROKER, RESOURCE_TOPIC
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_configs import (
    DescribeConfigsRequest,
    DescribeConfigsResponse,
)

API_KEY = ApiKey.DESCRIBE_CONFIGS
MIN_VERSION = 0
MAX_VERSION = 4
REQUEST = DescribeConfigsRequest

Result = DescribeConfigsResponse.DescribeConfigsResult
Entry = DescribeConfigsResponse.DescribeConfigsResourceResult
_DEFAULT_SOURCE = 5


def _render(
    rows: list[Row], keys: list[str] | None, synonyms: bool, docs: bool, v0: bool
) -> list[Entry]:
    wanted = set(keys) if keys else None
    return [
        Entry(
            name=r.name, value=r.value, read_only=r.read_only,
            # IsDefault exists only in v0 (later versions say it with ConfigSource).
            is_default=v0 and r.source == _DEFAULT_SOURCE, config_source=r.source,
            is_sensitive=r.sensitive,
            synonyms=[
                DescribeConfigsResponse.DescribeConfigsSynonym(
                    name=s.name, value=None if r.sensitive else s.value, source=int(s.source))
                for s in r.synonyms
            ] if synonyms else [],
            config_type=r.type_id,
            documentation=r.documentation if docs else None,
        )
        for r in rows
        if wanted is None or r.name in wanted
    ]


def handle(ctx: RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse:
    node = ctx.services
    synonyms = ctx.api_version >= 1 and request.include_synonyms
    docs = ctx.api_version >= 3 and request.include_documentation
    results = []
    for res in request.resources:
        rtype, rname = res.resource_type, res.resource_name
        if rtype == RESOURCE_TOPIC:
            if rname not in node.image.topics.by_name:
                results.append(Result(error_code=ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                      error_message=f"Topic {rname} does not exist.",
                                      resource_type=rtype, resource_name=rname, configs=[]))
                continue
            rows = describe_topic_configs(node, node.image.configs.topic_config(rname))
        elif rtype == RESOURCE_BROKER:
            if rname not in ("", str(node.config.node_id)):
                results.append(Result(error_code=ErrorCode.INVALID_REQUEST,
                                      error_message=f"Unexpected broker id {rname}; this is "
                                      f"broker {node.config.node_id}.",
                                      resource_type=rtype, resource_name=rname, configs=[]))
                continue
            rows = describe_broker_configs(node, entity_default=rname == "")
        else:
            results.append(Result(error_code=ErrorCode.INVALID_REQUEST,
                                  error_message=f"Unsupported resource type {rtype}.",
                                  resource_type=rtype, resource_name=rname, configs=[]))
            continue
        results.append(Result(error_code=ErrorCode.NONE, error_message=None, resource_type=rtype,
                              resource_name=rname,
                              configs=_render(rows, res.configuration_keys, synonyms, docs,
                                              ctx.api_version == 0)))
    return DescribeConfigsResponse(throttle_time_ms=0, results=results)
