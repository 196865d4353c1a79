"""CreateTopics: validated by the controller, answered per topic with Kafka's error codes.

From v5 the answer carries the new topic's effective configuration, which is how
``kafka-topics.sh --create`` and AdminClient learn defaults without a second round trip.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from brook.broker.configs import describe_topic_configs
from brook.broker.context import RequestContext
from brook.metadata.controller.replication_control import ControllerError, TopicSpec
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.create_topics import CreateTopicsRequest, CreateTopicsResponse

API_KEY = ApiKey.CREATE_TOPICS
MIN_VERSION = 0
MAX_VERSION = 7
REQUEST = CreateTopicsRequest

Result = CreateTopicsResponse.CreatableTopicResult


def _described(
    node: Any, configs: dict[str, str], cache: dict[frozenset[tuple[str, str]], list[Any]]
) -> list[Any]:
    key = frozenset(configs.items())
    rows = cache.get(key)
    if rows is None:
        rows = cache[key] = [
            CreateTopicsResponse.CreatableTopicConfigs(
                name=e.name, value=e.value, read_only=e.read_only,
                config_source=e.source, is_sensitive=e.sensitive,
            )
            for e in describe_topic_configs(node, configs)
        ]
    return rows


async def handle(ctx: RequestContext, request: CreateTopicsRequest) -> CreateTopicsResponse:
    node = ctx.services
    duplicates = {n for n, k in Counter(t.name for t in request.topics).items() if k > 1}
    results: dict[str, Result] = {}
    specs: list[TopicSpec] = []
    for topic in request.topics:
        if topic.name in duplicates:
            results[topic.name] = Result(
                name=topic.name, error_code=ErrorCode.INVALID_REQUEST,
                error_message="Create topics request from client contains duplicate topic names",
            )
            continue
        configs: dict[str, str] = {}
        bad_config = None
        for c in topic.configs:
            if c.value is None:
                bad_config = c.name
            else:
                configs[c.name] = c.value
        if bad_config is not None:
            results[topic.name] = Result(
                name=topic.name, error_code=ErrorCode.INVALID_CONFIG,
                error_message=f"Null value not supported for topic configs: {bad_config}",
            )
            continue
        specs.append(
            TopicSpec(
                name=topic.name,
                num_partitions=topic.num_partitions,
                replication_factor=topic.replication_factor,
                assignments={a.partition_index: list(a.broker_ids) for a in topic.assignments},
                configs=configs,
            )
        )
    outcomes = await node.controller.create_topics(specs, request.validate_only)
    # Topics with the same overrides (usually none) share their described configs: a batch of
    # thousands must not describe every key thousands of times while others wait.
    described: dict[frozenset[tuple[str, str]], list[Any]] = {}
    for spec, outcome in zip(specs, outcomes, strict=True):
        if isinstance(outcome, ControllerError):
            results[spec.name] = Result(
                name=spec.name, error_code=outcome.code, error_message=outcome.message,
                configs=None,
            )
            continue
        results[spec.name] = Result(
            name=spec.name,
            topic_id=outcome.topic_id if not request.validate_only else b"\x00" * 16,
            error_code=ErrorCode.NONE,
            error_message=None,
            num_partitions=outcome.num_partitions,
            replication_factor=outcome.replication_factor,
            configs=_described(node, spec.configs, described),
        )
    seen: set[str] = set()
    ordered = []
    for topic in request.topics:
        if topic.name not in seen:
            seen.add(topic.name)
            ordered.append(results[topic.name])
    return CreateTopicsResponse(throttle_time_ms=0, topics=ordered)
