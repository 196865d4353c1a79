"""How a metadata record is framed inside a record value (Kafka's MetadataRecordSerde).

Each value is ``frame version (uvarint, 1) | record type (uvarint) | record version (uvarint) |
record body`` so that a reader can skip record types it does not know yet.
"""

from __future__ import annotations

from typing import Any

from brook.protocol.errors import ProtocolDecodeError
from brook.protocol.metadata_records import BY_TYPE

FRAME_VERSION = 1


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf) or shift > 28:
            raise ProtocolDecodeError("bad varint in metadata record frame")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def encode_record(record: Any, version: int | None = None) -> bytes:
    """Frame ``record`` at ``version`` (default: the newest the codec knows)."""
    cls = type(record)
    if version is None:
        version = cls.MAX_VERSION
    body: bytes = record.to_bytes(version)
    return _uvarint(FRAME_VERSION) + _uvarint(cls.RECORD_TYPE) + _uvarint(version) + body


def decode_record(value: bytes | memoryview) -> Any | None:
    """Decode one framed record; ``None`` for a record type this broker does not know."""
    buf = memoryview(value)
    frame, pos = _read_uvarint(buf, 0)
    if frame != FRAME_VERSION:
        raise ProtocolDecodeError(f"unknown metadata frame version {frame}")
    record_type, pos = _read_uvarint(buf, pos)
    version, pos = _read_uvarint(buf, pos)
    cls = BY_TYPE.get(record_type)
    if cls is None:
        return None
    record, _ = cls.decode(buf, pos, version)
    return record
