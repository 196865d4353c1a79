"""Connect declares its configuration with brook's one ``ConfigDef`` type.

A connector's definitions, the framework's connector keys and the worker's keys are all
``brook.config.defs`` definitions; the worker's come from ``brook.config.connect_worker``.
"""

from __future__ import annotations

import pytest

from brook.config import connect_worker, defs
from brook.connect import api
from brook.connect.connectors.file.sink import FileStreamSinkConnector
from brook.connect.connectors.s3.connector import S3SinkConnector
from brook.connect.runtime import connector_config
from brook.connect.runtime.worker_config import WORKER_CONFIG, WorkerConfig


def test_connector_config_def_is_the_one_definition_type() -> None:
    for connector in (S3SinkConnector(), FileStreamSinkConnector()):
        config = connector.config()
        assert isinstance(config, defs.ConfigDef)
        assert len(config) > 0
        assert all(isinstance(config[name], defs.ConfigKey) for name in config)
    for framework in (connector_config.COMMON, connector_config.SINK, connector_config.SOURCE):
        assert isinstance(framework, defs.ConfigDef)
    assert issubclass(api.ConfigDef, defs.ConfigDef)
    assert issubclass(api.ConfigKey, defs.ConfigKey)
    assert api.Type is defs.ConfigType and api.Importance is defs.Importance


def test_connect_key_keeps_the_connector_facing_form() -> None:
    key = api.ConfigKey("batch.size", api.Type.INT, 10, api.Importance.HIGH, "Records per batch.",
                        api.at_least(1), "Writes")
    assert (key.name, key.default, key.importance, key.documentation, key.group) == (
        "batch.size", 10, api.Importance.HIGH, "Records per batch.", "Writes")
    config = api.ConfigDef().define(key).define(api.ConfigKey("topic", api.Type.STRING))
    assert config["topic"].required and not key.required
    errors = {v.name: v.errors for v in config.validate({"batch.size": "0"})}
    assert errors == {
        "batch.size": ["Invalid value 0 for configuration batch.size: Value must be at least 1"],
        "topic": ['Missing required configuration "topic" which has no default value.'],
    }
    with pytest.raises(api.ConfigException, match=r"batch\.size"):
        config.parse({"batch.size": "0", "topic": "t"})
    # The broker-side parse of the same key reaches the connector's validator.
    with pytest.raises(ValueError, match="Value must be at least 1"):
        key.parse("0")
    assert key.parse("5") == 5


def test_worker_keys_come_from_the_config_home() -> None:
    home = connect_worker.WORKER_KEYS
    assert isinstance(home, defs.ConfigDef)
    assert list(WORKER_CONFIG) == list(home)
    for name in home:
        assert WORKER_CONFIG[name].documentation == home[name].documentation
        assert WORKER_CONFIG[name].default_text == home[name].default_text
        assert home[name].documentation, f"{name} has no documentation"
    values = WorkerConfig({}).values
    assert values["bootstrap.servers"] == ["localhost:9092"]
    assert values["offset.storage.partitions"] == home["offset.storage.partitions"].default == 25
    assert values["rest.port"] == 8083 and values["rest.host.name"] is None


def test_worker_key_errors_read_as_connects() -> None:
    with pytest.raises(api.ConfigException) as caught:
        WorkerConfig({"session.timeout.ms": "0"})
    assert caught.value.message == (
        "Invalid value 0 for configuration session.timeout.ms: Value must be at least 1")
    with pytest.raises(api.ConfigException, match="Expected value to be of type INT"):
        WorkerConfig({"rest.port": "eighty"})


def test_broker_style_lookup_honours_connect_required_keys() -> None:
    config = api.ConfigDef([api.ConfigKey("topic", api.Type.STRING),
                            api.ConfigKey("tasks", api.Type.INT, 1)])
    with pytest.raises(ValueError, match="topic is required"):
        config.value({}, "topic")
    assert config.get_str({"topic": "t"}, "topic") == "t"
    assert config.get_int({}, "tasks") == 1
