"""DescribeConfigs answers from the configuration definitions, for the broker and for topics.

A real ``BrokerNode`` answers real DescribeConfigs v4 frames; every row must match
``brook.config``: the value (the broker's property, else the definition's default), the
source, read-only flag, type, documentation and synonyms, and no key outside the definitions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from brook.config.broker import BROKER_CONFIGS
from brook.config.log import TOPIC_CONFIGS
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages.create_topics import CreateTopicsRequest
from brook.protocol.messages.describe_configs import DescribeConfigsRequest
from brook.storage.log_config import ConfigSource
from tests.unit.broker.conftest import Harness, decode_response, encode_request, feed

RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4


def _roundtrip(harness: Harness, request: Any, api_key: int, version: int) -> Any:
    conn, transport = harness.connect()
    feed(conn, encode_request(request, version, 7))
    for _ in range(200):
        if transport.frames():
            break
        harness.run(asyncio.sleep(0.02))
    frames = transport.frames()
    assert frames, "no response"
    return decode_response(frames[0], api_key, version)[1]


def _describe(harness: Harness, rtype: int, name: str) -> dict[str, Any]:
    request = DescribeConfigsRequest(
        resources=[DescribeConfigsRequest.DescribeConfigsResource(
            resource_type=rtype, resource_name=name, configuration_keys=None)],
        include_synonyms=True, include_documentation=True)
    response = _roundtrip(harness, request, ApiKey.DESCRIBE_CONFIGS, 4)
    (result,) = response.results
    assert result.error_code == 0, result.error_message
    return {c.name: c for c in result.configs}


def test_broker_rows_are_the_definitions(harness: Harness) -> None:
    props = harness.node.config.props
    rows = _describe(harness, RESOURCE_BROKER, "1")
    # Every row is a defined key: nothing advertised that no code reads.
    assert set(rows) <= set(BROKER_CONFIGS)
    for key in BROKER_CONFIGS.values():
        expected = props.get(key.name, key.default_text)
        if expected is None:
            assert key.name not in rows
            continue
        row = rows[key.name]
        static = key.name in props
        source = ConfigSource.STATIC_BROKER_CONFIG if static else ConfigSource.DEFAULT_CONFIG
        assert row.value == expected, key.name
        assert row.config_source == source, key.name
        assert row.read_only and not row.is_sensitive
        assert row.config_type == key.type.wire_id, key.name
        assert row.documentation == key.documentation
        assert [(s.name, s.value, s.source) for s in row.synonyms] == [
            (key.name, expected, source)]
    assert rows["socket.request.max.bytes"].value == str(1024 * 1024)
    assert rows["socket.request.max.bytes"].config_source == ConfigSource.STATIC_BROKER_CONFIG
    assert rows["offsets.topic.replication.factor"].value == "3"
    for unread in ("queued.max.requests", "fetch.max.bytes",
                   "transaction.state.log.num.partitions", "transactional.id.expiration.ms"):
        assert unread not in rows


def test_topic_rows_are_the_definitions(harness: Harness) -> None:
    create = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="described", num_partitions=1, replication_factor=1,
        configs=[CreateTopicsRequest.CreatableTopicConfig(name="retention.ms", value="3600000")])],
        timeout_ms=5000)
    created = _roundtrip(harness, create, ApiKey.CREATE_TOPICS, 5)
    assert created.topics[0].error_code == 0, created.topics[0].error_message
    rows = _describe(harness, RESOURCE_TOPIC, "described")
    assert set(rows) == set(TOPIC_CONFIGS)
    for key in TOPIC_CONFIGS.values():
        row = rows[key.name]
        assert not row.read_only
        assert row.config_type == key.type.wire_id
        assert row.documentation == key.documentation
        if key.name == "retention.ms":
            assert (row.value, row.config_source) == ("3600000", ConfigSource.TOPIC_CONFIG)
        else:
            assert (row.value, row.config_source) == (key.default_text,
                                                      ConfigSource.DEFAULT_CONFIG), key.name
