"""The metadata image decides each hosted log's settings, from start-up on and after changes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.configuration_control import ConfigOp
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import TopicSpec
from brook.metadata.image import RESOURCE_TOPIC
from brook.raft.local import LocalRaftClient
from brook.replication.replica_manager import ReplicaManager
from brook.storage.log_manager import LogManager

DEFAULTS = {"log.retention.ms": "1000", "log.cleanup.policy": "delete"}


def controller(meta: Path) -> QuorumController:
    c = QuorumController(LocalRaftClient(meta, SYSTEM_CLOCK.now_ms()), SYSTEM_CLOCK, Rng(3), 1, 1)
    c.load()
    asyncio.run(c.register_broker(1, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "h", 1, 0)],
                                  rack=None))
    return c


def test_a_log_opened_before_the_image_takes_its_topic_config(tmp_path: Path) -> None:
    """A log the log manager opened with broker defaults (an older start order) gets its
    topic's configuration as soon as the replica manager installs it."""
    c = controller(tmp_path / "meta")
    asyncio.run(c.create_topics([TopicSpec("forever", configs={"retention.ms": "-1",
                                                                "cleanup.policy": "compact"})],
                                validate_only=False))
    logs = LogManager([tmp_path / "data"], DEFAULTS, SYSTEM_CLOCK.now_ms)
    logs.startup()
    logs.get_or_create_log("forever", 0)  # opened with the broker defaults
    rm = ReplicaManager(1, logs, DEFAULTS)
    rm.apply_image(c.image)
    part = rm.get_partition("forever", 0)
    assert part is not None
    assert part.log.config.retention_ms == -1 and part.log.config.compact


def test_hosted_logs_carry_the_effective_config_and_id(tmp_path: Path) -> None:
    c = controller(tmp_path / "meta")
    asyncio.run(c.create_topics([TopicSpec("a", 2, 1, configs={"segment.bytes": "2048"})],
                                validate_only=False))
    rm = ReplicaManager(1, LogManager([tmp_path / "data"], DEFAULTS, SYSTEM_CLOCK.now_ms), DEFAULTS)
    hosted = rm.hosted_logs(c.image)
    topic = c.image.topics.by_name["a"]
    assert sorted(hosted) == [("a", 0), ("a", 1)]
    assert all(h.topic_id == topic.topic_id for h in hosted.values())
    assert all(h.config.segment_bytes == 2048 and h.config.retention_ms == 1000
               for h in hosted.values())


def test_config_changes_reach_existing_logs(tmp_path: Path) -> None:
    c = controller(tmp_path / "meta")
    logs = LogManager([tmp_path / "data"], DEFAULTS, SYSTEM_CLOCK.now_ms)
    logs.startup({})
    rm = ReplicaManager(1, logs, DEFAULTS)
    c.publishers.append(lambda delta, image: rm.apply_image_async(
        image, [t.name for t in delta.deleted_topics.values()], delta.changed_topic_names(image)))
    asyncio.run(c.create_topics([TopicSpec("t")], validate_only=False))
    log = logs.get_log("t", 0)
    assert log is not None and log.config.retention_ms == 1000
    asyncio.run(c.alter_configs([(RESOURCE_TOPIC, "t", [ConfigOp("retention.ms", "-1")])],
                                validate_only=False, incremental=True))
    assert log.config.retention_ms == -1
    asyncio.run(c.alter_configs([(RESOURCE_TOPIC, "t", [ConfigOp("retention.ms", None, 1)])],
                                validate_only=False, incremental=True))
    assert log.config.retention_ms == 1000
