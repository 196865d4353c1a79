"""``__consumer_offsets`` records in Kafka's own format (Kafka's GroupCoordinatorRecordSerde).

A key is an int16 record type followed by the key body; a value is an int16 version followed by
the value body, or null (a tombstone) when the key's state is deleted. Type 0/1 keys are offset
commits (``OffsetCommitKey``), type 2 keys are classic group metadata (``GroupMetadataKey``).
Keeping the exact format means a Kafka broker's ``__consumer_offsets`` data and ours read the
same way, and the log cleaner can compact by key without knowing what the records mean.
"""

from __future__ import annotations

import struct
from typing import TypeVar

from brook.coordinator.runtime import CoordinatorRecord
from brook.protocol.errors import ProtocolDecodeError
from brook.protocol.group_records.group_metadata_key import GroupMetadataKey
from brook.protocol.group_records.group_metadata_value import GroupMetadataValue
from brook.protocol.group_records.offset_commit_key import OffsetCommitKey
from brook.protocol.group_records.offset_commit_value import OffsetCommitValue

_INT16 = struct.Struct(">h")
_M = TypeVar("_M", OffsetCommitValue, GroupMetadataValue)

OFFSET_COMMIT_KEY_TYPE = 1
GROUP_METADATA_KEY_TYPE = 2
# Version 3 is what Kafka writes for an offset without an explicit expiry; version 1 is the
# only one that carries an expire timestamp (OffsetCommit v2-v4 retention time).
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION = 1
# Version 3 carries group instance ids (static membership) and the state timestamp.
GROUP_METADATA_VALUE_VERSION = 3


MAX_RECORD_STRING_BYTES = 32767
"""Group ids, member ids and protocol names are written into ``__consumer_offsets`` records as
int16-length strings; flexible requests can carry longer ones, which are refused up front."""


def fits_record_string(value: str | None) -> bool:
    """Whether ``value`` can be written as a record string (UTF-8 at most 32,767 bytes)."""
    if value is None or len(value) <= MAX_RECORD_STRING_BYTES // 4:
        return True
    return len(value.encode()) <= MAX_RECORD_STRING_BYTES


class RecordSerdeError(Exception):
    """A key or value that is not a well-formed group coordinator record."""


def offset_commit_key(group_id: str, topic: str, partition: int) -> bytes:
    body = OffsetCommitKey(group=group_id, topic=topic, partition=partition)
    return _INT16.pack(OFFSET_COMMIT_KEY_TYPE) + body.to_bytes(OFFSET_COMMIT_KEY_TYPE)


def group_metadata_key(group_id: str) -> bytes:
    body = GroupMetadataKey(group=group_id)
    return _INT16.pack(GROUP_METADATA_KEY_TYPE) + body.to_bytes(GROUP_METADATA_KEY_TYPE)


def offset_commit_value(value: OffsetCommitValue) -> bytes:
    version = (
        OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION
        if value.expire_timestamp != -1
        else OFFSET_COMMIT_VALUE_VERSION
    )
    return _INT16.pack(version) + value.to_bytes(version)


def group_metadata_value(value: GroupMetadataValue) -> bytes:
    return _INT16.pack(GROUP_METADATA_VALUE_VERSION) + value.to_bytes(GROUP_METADATA_VALUE_VERSION)


def offset_commit_record(
    group_id: str, topic: str, partition: int, value: OffsetCommitValue | None
) -> CoordinatorRecord:
    key = offset_commit_key(group_id, topic, partition)
    return key, None if value is None else offset_commit_value(value)


def group_metadata_record(group_id: str, value: GroupMetadataValue | None) -> CoordinatorRecord:
    return group_metadata_key(group_id), None if value is None else group_metadata_value(value)


def decode_key(key: bytes) -> OffsetCommitKey | GroupMetadataKey | None:
    """The key's body, or None for record types this coordinator does not own (the new
    consumer and share group records share the topic)."""
    if len(key) < 2:
        raise RecordSerdeError("key shorter than its type")
    (record_type,) = _INT16.unpack_from(key, 0)
    try:
        if record_type in (0, OFFSET_COMMIT_KEY_TYPE):
            return OffsetCommitKey.decode(memoryview(key), 2, record_type)[0]
        if record_type == GROUP_METADATA_KEY_TYPE:
            return GroupMetadataKey.decode(memoryview(key), 2, record_type)[0]
    except ProtocolDecodeError as exc:
        raise RecordSerdeError(str(exc)) from exc
    return None


def decode_offset_commit_value(value: bytes) -> OffsetCommitValue:
    return _decode_value(OffsetCommitValue, value)


def decode_group_metadata_value(value: bytes) -> GroupMetadataValue:
    return _decode_value(GroupMetadataValue, value)


def _decode_value(cls: type[_M], value: bytes) -> _M:
    if len(value) < 2:
        raise RecordSerdeError("value shorter than its version")
    (version,) = _INT16.unpack_from(value, 0)
    if not cls.MIN_VERSION <= version <= cls.MAX_VERSION:
        raise RecordSerdeError(f"{cls.__name__} version {version} is unknown")
    try:
        return cls.decode(memoryview(value), 2, version)[0]
    except ProtocolDecodeError as exc:
        raise RecordSerdeError(str(exc)) from exc
