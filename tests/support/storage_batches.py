"""Batch builders shared by the storage tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from brook.records.record import build_batch

if TYPE_CHECKING:
    from brook.storage.log_config import LogConfig


def make_batch(
    count: int = 1,
    *,
    base_offset: int = 0,
    timestamp: int = 1_000,
    value_size: int = 10,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    leader_epoch: int = -1,
    timestamps: list[int] | None = None,
) -> bytearray:
    """A v2 batch of ``count`` records with ``value_size``-byte values."""
    stamps = timestamps or [timestamp + i for i in range(count)]
    records = [(b"k%d" % i, bytes([65 + i % 26]) * value_size, [], stamps[i]) for i in range(count)]
    return build_batch(
        records,
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        partition_leader_epoch=leader_epoch,
    )


def config(**overrides: str | int) -> LogConfig:
    """A LogConfig from Kafka-style keys written with underscores (segment_bytes=...)."""
    from brook.storage.log_config import LogConfig

    return LogConfig.from_props({k.replace("_", "."): str(v) for k, v in overrides.items()})
