"""Avro object container files, written whole: the codecs of Avro's ``CodecFactory``.

fastavro encodes the records (``schemaless_writer``); the container around them - magic, the
``avro.schema``/``avro.codec`` metadata, one block, the sync marker - is written here, so every
codec Confluent's ``avro.codec`` accepts (null, deflate, snappy, bzip2, xz, zstandard) is
available with the libraries brook already depends on, and a codec whose library is missing is
named at validation instead of failing the first write. The sync marker is fixed, so the same
records give the same bytes (a rewritten object is identical).
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from brook.connect.api import DataException

MAGIC = b"Obj\x01"
SYNC = b"brook-connect-s3"


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes(b: bytes) -> bytes:
    return _zigzag(len(b)) + b


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def _snappy(data: bytes) -> bytes:
    import cramjam

    # Avro's snappy block: raw snappy, then the CRC32 of the uncompressed data, big-endian.
    return bytes(cramjam.snappy.compress_raw(data)) + zlib.crc32(data).to_bytes(4, "big")


def _zstandard(data: bytes) -> bytes:
    import zstandard

    return bytes(zstandard.ZstdCompressor().compress(data))


class _Codecs:
    """Codec name -> block compressor, and the module each one needs."""

    table: dict[str, tuple[Callable[[bytes], bytes], str | None]] = {
        "null": (lambda d: d, None), "deflate": (_deflate, None), "bzip2": (bz2.compress, None),
        "xz": (lambda d: lzma.compress(d, format=lzma.FORMAT_XZ), None),
        "snappy": (_snappy, "cramjam"), "zstandard": (_zstandard, "zstandard"),
    }

    def problem(self, name: str) -> str | None:
        if name not in self.table:
            return f"Unrecognized codec: {name}; use one of {', '.join(self.table)}"
        module = self.table[name][1]
        if module:
            try:
                __import__(module)
            except ImportError:
                return f"avro.codec {name} needs the Python package {module}, which is missing"
        return None


AVRO_CODECS = _Codecs()


def write_container(schema: Any, records: Sequence[Any], codec: str) -> bytes:
    """One Avro container file holding ``records`` in one block."""
    import fastavro

    try:
        parsed = fastavro.parse_schema(schema)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise DataException(f"Connect schema does not map to a valid Avro schema: {exc}") from exc
    body = io.BytesIO()
    try:
        for record in records:
            fastavro.schemaless_writer(body, parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise DataException(f"record does not fit the Avro schema: {exc}") from exc
    compress = AVRO_CODECS.table[codec][0]
    block = compress(body.getvalue())
    meta = {"avro.schema": json.dumps(schema, separators=(",", ":")).encode(),
            "avro.codec": codec.encode()}
    header = MAGIC + _zigzag(len(meta)) + b"".join(
        _bytes(k.encode()) + _bytes(v) for k, v in meta.items()) + _zigzag(0) + SYNC
    return header + _zigzag(len(records)) + _bytes(block) + SYNC
