"""Batch compression codecs, byte-compatible with what Kafka clients write and read.

Produce decompresses a compressed batch once, to check its records (and recompresses it when
the topic's ``compression.type`` names another codec); fetch never calls this module. The
log cleaner, the CLI, connectors and tests use it to look inside batches.

Codec formats, as the Java client (the reference every other client follows) uses them:

* gzip: an RFC 1952 gzip stream (``GZIPOutputStream``). Decoding accepts concatenated
  members, as ``GZIPInputStream`` does.
* snappy: the Java client writes *xerial* framing (``SnappyOutputStream``: the 16-byte
  header ``\\x82SNAPPY\\x00`` + version 1 + compatible version 1, then blocks of
  ``int32 length`` + raw snappy), while librdkafka writes a bare raw snappy block. We decode
  both and encode xerial framing: it is what the Java consumer most directly expects
  (``SnappyInputStream`` falls back to raw only by detection), librdkafka and kafka-python
  both detect it, and it bounds each block to 32 KiB so the decoder's memory stays small.
  Note that cramjam's ``snappy.compress`` is the *Google* framing format (``\\xff\\x06...``),
  which no Kafka client reads, so it is deliberately not used.
* lz4: the LZ4 *frame* format with independent blocks. Kafka's ``Lz4BlockInputStream``
  rejects linked blocks ("Dependent block stream is unsupported"), so the compressor is
  configured with ``block_linked=False``.
* zstd: a standard zstd frame.

Every decoder bounds the decompressed size (``max_size``) so a small batch cannot expand
into gigabytes (a decompression bomb); exceeding it raises ``InvalidRecordError``. Malformed
compressed data raises ``CorruptRecordError``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

import cramjam

from brook.records.errors import CorruptRecordError, InvalidRecordError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "CompressionType",
    "compress",
    "decompress",
]

DEFAULT_MAX_DECOMPRESSED_SIZE = 64 * 1024 * 1024
"""Largest decompressed records section accepted by default (64 MiB)."""

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_XERIAL_BLOCK_LENGTH = struct.Struct(">i")
_XERIAL_BLOCK_SIZE = 32 * 1024
_XERIAL_VERSION = 1
_XERIAL_COMPATIBLE_VERSION = 1

_BUFFER_TOO_SMALL = "failed to write whole buffer"
"""cramjam's message when ``decompress_into`` runs out of output space."""


class CompressionType(IntEnum):
    """The codec id in bits 0-2 of a batch's attributes (Kafka's ``CompressionType``)."""

    NONE = 0
    GZIP = 1
    SNAPPY = 2
    LZ4 = 3
    ZSTD = 4

    @property
    def config_name(self) -> str:
        """The name used by ``compression.type`` (``none`` is ``uncompressed`` there)."""
        return "uncompressed" if self is CompressionType.NONE else self.name.lower()


def compress(codec: int, data: ReadableBuffer) -> bytes:
    """Compress a batch's records section with ``codec``."""
    codec = _codec(codec)
    if codec is CompressionType.NONE:
        return bytes(data)
    if codec is CompressionType.GZIP:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if codec is CompressionType.SNAPPY:
        return _xerial_snappy_compress(data)
    if codec is CompressionType.LZ4:
        lz4 = cramjam.lz4.Compressor(content_checksum=False, block_linked=False)
        lz4.compress(data if isinstance(data, bytes) else bytes(data))
        return bytes(lz4.finish())
    return bytes(cramjam.zstd.compress(data))


def decompress(
    codec: int, data: ReadableBuffer, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE
) -> bytes:
    """Decompress a batch's records section, refusing output larger than ``max_size``."""
    codec = _codec(codec)
    if codec is CompressionType.NONE:
        return bytes(data)
    if codec is CompressionType.GZIP:
        return _gzip_decompress(data, max_size)
    if codec is CompressionType.SNAPPY:
        return _snappy_decompress(data, max_size)
    if codec is CompressionType.LZ4:
        return _bounded_decompress_into(cramjam.lz4.decompress_into, data, max_size, "lz4")
    return _bounded_decompress_into(cramjam.zstd.decompress_into, data, max_size, "zstd")


def _codec(codec: int) -> CompressionType:
    try:
        return CompressionType(codec)
    except ValueError:
        raise InvalidRecordError(f"unknown compression codec {codec}") from None


def _too_large(max_size: int) -> InvalidRecordError:
    return InvalidRecordError(f"decompressed records exceed the limit of {max_size} bytes")


def _gzip_decompress(data: ReadableBuffer, max_size: int) -> bytes:
    out = bytearray()
    view = memoryview(data)
    remaining = bytes(view)
    while True:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = decompressor.decompress(remaining, max_size - len(out) + 1)
        except zlib.error as exc:
            raise CorruptRecordError(f"invalid gzip data: {exc}") from exc
        out += chunk
        if len(out) > max_size:
            raise _too_large(max_size)
        if not decompressor.eof:
            raise CorruptRecordError("truncated gzip data")
        remaining = decompressor.unused_data
        if not remaining:
            return bytes(out)


def _xerial_snappy_compress(data: ReadableBuffer) -> bytes:
    view = memoryview(data).cast("B")
    parts = [_XERIAL_HEADER.pack(XERIAL_MAGIC, _XERIAL_VERSION, _XERIAL_COMPATIBLE_VERSION)]
    for start in range(0, len(view), _XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start : start + _XERIAL_BLOCK_SIZE]))
        parts.append(_XERIAL_BLOCK_LENGTH.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _snappy_decompress(data: ReadableBuffer, max_size: int) -> bytes:
    view = memoryview(data).cast("B")
    if len(view) >= _XERIAL_HEADER.size and bytes(view[:8]) == XERIAL_MAGIC:
        out = bytearray()
        pos = _XERIAL_HEADER.size
        while pos < len(view):
            if pos + 4 > len(view):
                raise CorruptRecordError("truncated xerial snappy block length")
            (length,) = _XERIAL_BLOCK_LENGTH.unpack_from(view, pos)
            pos += 4
            if length < 0 or pos + length > len(view):
                raise CorruptRecordError("truncated xerial snappy block")
            out += _raw_snappy_decompress(view[pos : pos + length], max_size - len(out), max_size)
            pos += length
        return bytes(out)
    return _raw_snappy_decompress(view, max_size, max_size)


def _raw_snappy_decompress(view: memoryview, budget: int, max_size: int) -> bytes:
    """Raw snappy states its decompressed length up front, so the bound is checked first."""
    try:
        length = int(cramjam.snappy.decompress_raw_len(view))
    except cramjam.DecompressionError as exc:
        raise CorruptRecordError(f"invalid snappy data: {exc}") from exc
    if length > budget:
        raise _too_large(max_size)
    try:
        return bytes(cramjam.snappy.decompress_raw(view))
    except cramjam.DecompressionError as exc:
        raise CorruptRecordError(f"invalid snappy data: {exc}") from exc


def _bounded_decompress_into(
    decompress_into: Callable[[ReadableBuffer, bytearray], int],
    data: ReadableBuffer,
    max_size: int,
    name: str,
) -> bytes:
    """Decompress into a buffer that doubles until the output fits or ``max_size`` is hit.

    LZ4 frames from the Java client and zstd streams from zstd-jni carry no content size,
    so the size is discovered by trying; doubling keeps the total work within twice the
    final pass, and the buffer never grows past ``max_size + 1``.
    """
    capacity = min(max(4 * len(memoryview(data)), 64 * 1024), max_size + 1)
    while True:
        out = bytearray(capacity)
        try:
            written = decompress_into(data, out)
        except cramjam.DecompressionError as exc:
            if _BUFFER_TOO_SMALL not in str(exc):
                raise CorruptRecordError(f"invalid {name} data: {exc}") from exc
            if capacity > max_size:
                raise _too_large(max_size) from None
            capacity = min(capacity * 2, max_size + 1)
            continue
        if written > max_size:
            raise _too_large(max_size)
        del out[written:]
        return bytes(out)
