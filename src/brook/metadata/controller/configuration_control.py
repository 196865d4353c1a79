"""Dynamic configuration changes (AlterConfigs, IncrementalAlterConfigs) as ConfigRecords."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from brook.metadata.controller.replication_control import (
    ControllerError,
    check_configs,
    clip_for_message,
)
from brook.metadata.image import RESOURCE_BROKER, RESOURCE_TOPIC, MetadataImage
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.config_record import ConfigRecord
from brook.storage.log_config_defs import TOPIC_CONFIGS

# IncrementalAlterConfigs operation types.
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3
_LIST_KEYS = frozenset({"cleanup.policy", "leader.replication.throttled.replicas",
                        "follower.replication.throttled.replicas"})


def _default_list(name: str) -> str:
    """APPEND/SUBTRACT start from the effective value: Kafka's default when not overridden."""
    key = TOPIC_CONFIGS.get(name)
    if key is None or not isinstance(key.default, tuple):
        return ""
    return ",".join(key.default)


@dataclass(frozen=True, slots=True)
class ConfigOp:
    name: str
    value: str | None
    op: int = OP_SET


def plan_config_changes(
    image: MetadataImage, resource_type: int, resource_name: str, ops: Sequence[ConfigOp],
    incremental: bool,
) -> list[Any]:
    if resource_type == RESOURCE_BROKER:
        return _plan_broker_changes(image, resource_name, ops, incremental)
    if resource_type != RESOURCE_TOPIC:
        raise ControllerError(
            ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource_type}."
        )
    if resource_name not in image.topics.by_name:
        raise ControllerError(
            ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
            f"Topic {clip_for_message(resource_name)} does not exist.",
        )
    current = dict(image.configs.topic_config(resource_name))
    new = dict(current) if incremental else {}
    seen: set[str] = set()
    for op in ops:
        if op.name in seen:
            raise ControllerError(
                ErrorCode.INVALID_REQUEST, f"Error due to duplicate config keys: {clip_for_message(op.name)}"
            )
        seen.add(op.name)
        if op.op == OP_SET:
            if op.value is None:
                raise ControllerError(
                    ErrorCode.INVALID_REQUEST, f"Null value not supported for : {clip_for_message(op.name)}"
                )
            new[op.name] = op.value
        elif op.op == OP_DELETE:
            new.pop(op.name, None)
        elif op.op in (OP_APPEND, OP_SUBTRACT):
            if op.name not in _LIST_KEYS:
                raise ControllerError(
                    ErrorCode.INVALID_CONFIG,
                    "Config value append/subtract is not allowed for config key: "
                    f"{clip_for_message(op.name)}",
                )
            items = [v for v in new.get(op.name, _default_list(op.name)).split(",") if v]
            values = [v.strip() for v in (op.value or "").split(",") if v.strip()]
            if op.op == OP_APPEND:
                items += [v for v in values if v not in items]
            else:
                items = [v for v in items if v not in values]
            if items:
                new[op.name] = ",".join(items)
            else:
                new.pop(op.name, None)
        else:
            raise ControllerError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op.op}")
    check_configs(new)
    records: list[Any] = []
    for key in sorted(set(current) | set(new)):
        if current.get(key) != new.get(key):
            records.append(
                ConfigRecord(resource_type=RESOURCE_TOPIC, resource_name=resource_name, name=key,
                             value=new.get(key))
            )
    return records


THROTTLE_RATE_KEYS = frozenset({"leader.replication.throttled.rate",
                                "follower.replication.throttled.rate"})
"""The dynamic broker configs accepted (what kafka-reassign-partitions.sh --throttle sets on
every broker). They are recorded in the metadata log (ConfigRecord, resource type BROKER),
where every broker's replication quotas read them (``brook.replication.replication_quota``);
a broker config that nothing enforces is not accepted."""

_LOG_DIRS_THROTTLE = "replica.alter.log.dirs.io.max.bytes.per.second"
"""Deleted with the rates by ``kafka-reassign-partitions.sh --verify`` once a move is done:
brook moves no replica between log directories, so it is never set and its deletion is the
no-op it would be on a Kafka broker where it is unset."""


def _plan_broker_changes(image: MetadataImage, resource_name: str, ops: Sequence[ConfigOp],
                         incremental: bool) -> list[Any]:
    if resource_name and not (resource_name.isdigit() and len(resource_name) <= 10):
        raise ControllerError(ErrorCode.INVALID_REQUEST,
                              f"Invalid broker id {clip_for_message(resource_name)}.")
    current = dict(image.configs.resources.get((RESOURCE_BROKER, resource_name), {}))
    new = dict(current) if incremental else {}
    for op in ops:
        if op.name == _LOG_DIRS_THROTTLE and op.op == OP_DELETE:
            continue
        if op.name not in THROTTLE_RATE_KEYS:
            raise ControllerError(
                ErrorCode.INVALID_REQUEST,
                "Dynamic broker configuration is not supported; set it in server.properties. "
                f"Only {', '.join(sorted(THROTTLE_RATE_KEYS))} change at run time.")
        if op.op == OP_DELETE:
            new.pop(op.name, None)
            continue
        if op.op != OP_SET or op.value is None:
            raise ControllerError(ErrorCode.INVALID_CONFIG,
                                  f"{op.name} takes a value (bytes per second).")
        value = op.value.strip()
        if not value.isdigit() or int(value) > 2**63 - 1:
            raise ControllerError(
                ErrorCode.INVALID_CONFIG,
                f"Invalid value {clip_for_message(op.value)} for configuration {op.name}: "
                "a non-negative number of bytes per second.")
        new[op.name] = value
    return [
        ConfigRecord(resource_type=RESOURCE_BROKER, resource_name=resource_name, name=key,
                     value=new.get(key))
        for key in sorted(set(current) | set(new)) if current.get(key) != new.get(key)
    ]
