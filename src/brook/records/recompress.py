"""Rewriting a batch in another codec (topic ``compression.type`` other than ``producer``).

Kafka's ``LogValidator`` rebuilds a batch whose codec differs from the topic's target codec:
same producer id, epoch, base sequence, timestamps and record bytes, a new records section
and attributes, a new length and CRC. The records themselves are not re-encoded: their bytes
are the same in every codec, only the section around them is compressed differently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from brook.records.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    HEADER_SIZE,
    LENGTH_OFFSET,
    LOG_OVERHEAD,
    BatchHeader,
    write_crc,
)
from brook.records.compression import CompressionType, compress

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["recompress_batch"]


def recompress_batch(
    buf: ReadableBuffer, pos: int, header: BatchHeader, records: ReadableBuffer, codec: int
) -> bytearray:
    """The batch at ``pos`` of ``buf`` rewritten with its (uncompressed) ``records`` section
    compressed with ``codec``; header fields other than length, attributes and CRC kept."""
    view = memoryview(buf)
    section = bytes(records) if codec == CompressionType.NONE else compress(codec, records)
    out = bytearray(view[pos : pos + HEADER_SIZE])
    out += section
    attributes = (header.attributes & ~COMPRESSION_MASK) | codec
    out[LENGTH_OFFSET : LENGTH_OFFSET + 4] = (len(out) - LOG_OVERHEAD).to_bytes(
        4, "big", signed=True
    )
    out[ATTRIBUTES_OFFSET : ATTRIBUTES_OFFSET + 2] = attributes.to_bytes(2, "big", signed=True)
    write_crc(out, 0, len(out))
    return out
