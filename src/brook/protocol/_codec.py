"""Primitives shared by the generated message modules.

The generated code inlines the common cases (fixed-width fields through precompiled
``struct.Struct`` objects, one-byte varints) and falls back to the helpers here for the rare
ones (multi-byte varints). ``Message`` carries the per-class entry points so the generated
modules hold only the per-version layouts: each class maps a version to a decode function and
an encode function, chosen once per call by a dict lookup instead of testing the version at
every field.

Decoding reads from a ``memoryview`` so that ``records`` fields come out as zero-copy slices;
encoding appends to a ``bytearray`` and, for messages that carry records, returns a list of
chunks in which each record buffer is its own element (sent later with ``writelines`` without
being copied).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from struct import Struct
from typing import Any, ClassVar, NamedTuple, Self, TypeAlias, cast

from brook.protocol.errors import ProtocolDecodeError, UnsupportedVersionError

__all__ = [
    "BOOL",
    "FLOAT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "LOW_LEVEL_DECODE_ERRORS",
    "NO_VERSION",
    "UINT16",
    "UINT32",
    "UUID",
    "ZERO_UUID",
    "Buffer",
    "FieldSpec",
    "Message",
    "ProtocolDecodeError",
    "Records",
    "append_records",
    "bad_length",
    "read_uvarint",
    "read_uvarlong",
    "read_varint",
    "read_varlong",
    "records_size",
    "short",
    "skip_tags",
    "unsupported_field",
    "write_uvarint",
    "write_varint",
    "write_varlong",
]

Buffer: TypeAlias = bytes | bytearray | memoryview
"""One chunk of an encoded message."""

Records: TypeAlias = bytes | bytearray | memoryview | Sequence[Buffer] | None
"""What a ``records`` field accepts: one buffer, several (a list or tuple, sent back to back
without being joined), or null. Decoding always yields a ``memoryview`` (or None)."""

NO_VERSION = 32767
"""Upper bound of an open-ended version range ("3+"), and FLEXIBLE_MIN of never-flexible APIs."""

ZERO_UUID = bytes(16)

INT8 = Struct(">b")
INT16 = Struct(">h")
INT32 = Struct(">i")
INT64 = Struct(">q")
UINT16 = Struct(">H")
UINT32 = Struct(">I")
FLOAT64 = Struct(">d")
BOOL = Struct(">?")
UUID = Struct(">16s")


def short(what: str) -> ProtocolDecodeError:
    """The error for a length that runs past the end of the buffer."""
    return ProtocolDecodeError(f"buffer too short for {what}")


def bad_length(what: str, n: int) -> ProtocolDecodeError:
    """The error for a negative (non-null) length, or one that runs past the buffer."""
    return ProtocolDecodeError(f"bad length {n} for {what}")


def unsupported_field(field: str, version: int) -> UnsupportedVersionError:
    """The error for a non-default, non-ignorable value that ``version`` cannot carry.

    Kafka's generated writers refuse such a message rather than drop what the caller set; an
    ``ignorable`` field, or one left at its default, is silently left out instead.
    """
    return UnsupportedVersionError(f"version {version} has no field {field}, which is set")


def skip_tags(buf: memoryview, pos: int, count: int) -> int:
    """Skip ``count`` tagged fields nobody here knows (Kafka: ignore unknown tags)."""
    end = len(buf)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > end:
            raise short("tagged field")
    return pos


def records_size(records: Buffer | Sequence[Buffer]) -> int:
    """Total byte length of a records value (memoryviews measured in bytes, not items)."""
    if isinstance(records, memoryview):
        return records.nbytes
    if isinstance(records, (bytes, bytearray)):
        return len(records)
    return sum(b.nbytes if isinstance(b, memoryview) else len(b) for b in records)


def append_records(chunks: list[Buffer], records: Buffer | Sequence[Buffer]) -> bytearray:
    """Add record buffers to the chunk list by reference; return a fresh tail buffer."""
    if isinstance(records, (bytes, bytearray, memoryview)):
        chunks.append(records)
    else:
        chunks.extend(records)
    out = bytearray()
    chunks.append(out)
    return out


def read_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 5 bytes (Kafka's limit for 32-bit varints).

    Generated code handles the one-byte case inline and calls this only for longer ones.
    """
    end = len(buf)
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise short("varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ProtocolDecodeError("varint is longer than 5 bytes")


def read_uvarlong(buf: memoryview, pos: int) -> tuple[int, int]:
    """Read an unsigned varint of at most 10 bytes (64-bit)."""
    end = len(buf)
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise short("varlong")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtocolDecodeError("varlong is longer than 10 bytes")


def read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Read a zigzag-encoded signed 32-bit varint (as used inside record batches)."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def read_varlong(buf: memoryview, pos: int) -> tuple[int, int]:
    """Read a zigzag-encoded signed 64-bit varint."""
    raw, pos = read_uvarlong(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def write_uvarint(out: bytearray, value: int) -> None:
    """Append an unsigned varint; the one-byte case costs a single ``append``."""
    if value < 0x80:
        out.append(value)
        return
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def write_varint(out: bytearray, value: int) -> None:
    """Append a zigzag-encoded signed 32-bit varint."""
    write_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def write_varlong(out: bytearray, value: int) -> None:
    """Append a zigzag-encoded signed 64-bit varint."""
    write_uvarint(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


class FieldSpec(NamedTuple):
    """Static description of one field, for tests and tools that walk messages generically.

    Version ranges are inclusive; an empty range is ``(NO_VERSION, -1)``.
    """

    name: str
    """Python attribute name."""
    kafka_type: str
    """Kafka type as written in the schema: ``int32``, ``string``, ``[]int32``, ``[]Topic``."""
    min_version: int
    max_version: int
    nullable_min: int
    nullable_max: int
    tag: int | None
    tagged_min: int
    tagged_max: int
    struct: type[Message] | None
    """The class of a struct or struct-array field."""
    default: Any
    """The value a field takes when absent. Non-nullable lists get a fresh ``[]`` and
    non-nullable structs a fresh default instance; both are recorded here as ``[]``/None."""


#: What a generated decoder can raise on a short or malformed buffer besides
#: ``ProtocolDecodeError``; :meth:`Message.decode` converts them.
LOW_LEVEL_DECODE_ERRORS = (struct.error, IndexError, UnicodeDecodeError, OverflowError)

_DecodeFn: TypeAlias = Callable[[memoryview, int], tuple[Any, int]]
_EncodeFn: TypeAlias = Callable[..., Any]


class Message:
    """Base of every generated class: version dispatch, bytes conversion, equality, repr.

    Subclasses set ``__slots__``, ``_FIELDS``, ``_DECODERS`` and ``_ENCODERS`` (one function per
    supported version) and ``_CHUNKED`` when a ``records`` field is reachable, in which case the
    encoder threads a chunk list through and returns the current tail buffer.
    """

    __slots__ = ()

    # Declared here for typing only; set on top-level generated classes (API_KEY only on
    # requests and responses), absent on nested structs.
    API_KEY: ClassVar[int]
    MIN_VERSION: ClassVar[int]
    MAX_VERSION: ClassVar[int]
    FLEXIBLE_MIN: ClassVar[int]

    _FIELDS: ClassVar[tuple[FieldSpec, ...]] = ()
    _DECODERS: ClassVar[dict[int, _DecodeFn]] = {}
    _ENCODERS: ClassVar[dict[int, _EncodeFn]] = {}
    _CHUNKED: ClassVar[bool] = False

    @classmethod
    def decode(cls, buf: memoryview, pos: int, version: int) -> tuple[Self, int]:
        """Decode one instance at ``buf[pos:]``; return it and the position after it.

        Every malformation surfaces as ``ProtocolDecodeError``: the generated code checks
        lengths explicitly where slicing would silently truncate, and the low-level errors that
        a short buffer can still raise (``struct.error``, ``IndexError``) or bad text
        (``UnicodeDecodeError``) are converted here, once, instead of at every field.
        """
        fn = cls._DECODERS.get(version)
        if fn is None:
            raise UnsupportedVersionError(f"{cls.__qualname__} has no version {version}")
        if type(buf) is not memoryview:
            buf = memoryview(buf)
        if pos < 0:
            raise ProtocolDecodeError("negative position")
        try:
            return fn(buf, pos)
        except LOW_LEVEL_DECODE_ERRORS as exc:
            raise ProtocolDecodeError(f"malformed {cls.__qualname__} v{version}: {exc}") from exc

    @classmethod
    def raw_decoder(cls, version: int) -> _DecodeFn:
        """The generated decode function for ``version``, without :meth:`decode`'s checks.

        For a caller that decodes the same message type many times (the broker's request
        path): it looks the function up once, passes a ``memoryview`` and a position ``>= 0``
        itself, and converts :data:`LOW_LEVEL_DECODE_ERRORS` to ``ProtocolDecodeError`` as
        :meth:`decode` does.
        """
        fn = cls._DECODERS.get(version)
        if fn is None:
            raise UnsupportedVersionError(f"{cls.__qualname__} has no version {version}")
        return fn

    def encode(self, version: int) -> list[Buffer]:
        """Encode as a list of chunks; record buffers are chunks of their own, never copied."""
        fn = self._ENCODERS.get(version)
        if fn is None:
            raise UnsupportedVersionError(f"{type(self).__qualname__} has no version {version}")
        out = bytearray()
        if self._CHUNKED:
            chunks: list[Buffer] = [out]
            fn(self, out, chunks)
            return chunks
        fn(self, out)
        return [out]

    def to_bytes(self, version: int) -> bytes:
        """Encode into one ``bytes`` object (copies records; for tests and small messages)."""
        return b"".join(self.encode(version))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in _slots(self))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = ", ".join(f"{s}={getattr(self, s)!r}" for s in _slots(self))
        return f"{type(self).__qualname__}({parts})"


def _slots(obj: Message) -> tuple[str, ...]:
    return cast("tuple[str, ...]", type(obj).__slots__)
