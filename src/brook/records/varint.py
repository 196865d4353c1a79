"""Zigzag varints, the integer encoding inside v2 records (Kafka's ``ByteUtils.readVarint``).

Records use signed zigzag varints for every length and delta so that small negative
numbers (``-1`` for a null key, a negative timestamp delta) stay one byte long.
"""

from __future__ import annotations

from brook.records.errors import CorruptRecordError

__all__ = ["read_varint", "size_of_varint", "write_varint"]

_MAX_VARINT_SHIFT = 63


def write_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (an int64) zigzag-encoded as a varint."""
    zigzag = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    while zigzag > 0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)


def size_of_varint(value: int) -> int:
    """Bytes :func:`write_varint` would use for ``value``."""
    zigzag = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    size = 1
    while zigzag > 0x7F:
        zigzag >>= 7
        size += 1
    return size


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a zigzag varint at ``pos``; return ``(value, next_pos)``.

    Raises ``CorruptRecordError`` if the varint runs past ``end`` or is longer than the 10
    bytes an int64 can need.
    """
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise CorruptRecordError("varint runs past the end of the record data")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > _MAX_VARINT_SHIFT:
            raise CorruptRecordError("varint is longer than 10 bytes")
