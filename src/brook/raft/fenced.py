"""The contract of a cluster's metadata log: appends fenced by controller leadership.

A cluster keeps its metadata where every broker reads it and exactly one controller writes it.
Two things make that safe when processes pause, die and come back:

- **Leadership is a token, not a belief.** :class:`Leadership` carries the ``epoch`` the store
  gave the controller when it won (etcd: the create revision of the leader key). Every append
  names the token and the store refuses it, atomically with the write, unless the token is
  still the current one. A controller paused past its lease and resumed cannot append: its
  first attempt raises :class:`NotControllerError` and it stops acting.
- **Appends are idempotent by position.** An append also names the log end it expects; a
  retry of an append whose outcome was unknown either finds its batch at that position (it
  was applied) or applies it now, never twice.

Implementations: :mod:`brook.raft.etcd_log` (etcd) and :mod:`brook.raft.memory_log` (the same
contract in memory, for simulation). Records are opaque bytes here; the metadata package frames
Kafka's metadata records into them.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from brook.raft.client import MetadataLogError

__all__ = [
    "MAX_BATCH_BYTES",
    "ControllerElection",
    "DuplicateBrokerRegistration",
    "FencedMetadataLog",
    "Leadership",
    "LogGapError",
    "MetadataLogError",
    "NotControllerError",
    "StoreUnavailable",
    "batch_size",
    "decode_batch",
    "encode_batch",
]

MAX_BATCH_BYTES = 1024 * 1024
"""Largest framed batch one append may write: etcd refuses requests above 1.5 MiB."""

_LEN = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Leadership:
    """Proof of having won the controller election: ``epoch`` is the fencing token."""

    node_id: int
    epoch: int


class StoreUnavailable(Exception):
    """The metadata store did not answer (etcd down or unreachable): retry later."""


class NotControllerError(Exception):
    """The appender no longer holds controller leadership: it must stop acting at once."""


class DuplicateBrokerRegistration(Exception):
    """Another live broker holds this node id's registration (Kafka's
    DUPLICATE_BROKER_REGISTRATION): this broker must not start."""


class LogGapError(MetadataLogError):
    """A reader found offsets missing (records deleted behind a snapshot): reload the snapshot."""


def batch_size(values: Sequence[bytes]) -> int:
    """The bytes :func:`encode_batch` frames ``values`` in (to refuse a batch before encoding)."""
    return _LEN.size * (1 + len(values)) + sum(len(v) for v in values)


def encode_batch(values: Sequence[bytes]) -> bytes:
    """Values framed as ``count`` then ``length, bytes`` each (big-endian uint32)."""
    parts = [_LEN.pack(len(values))]
    for v in values:
        parts.append(_LEN.pack(len(v)))
        parts.append(v)
    out = b"".join(parts)
    if len(out) > MAX_BATCH_BYTES:
        raise ValueError(f"metadata batch of {len(out)} bytes exceeds {MAX_BATCH_BYTES}")
    return out


def decode_batch(data: bytes) -> list[bytes]:
    """The values of :func:`encode_batch`; ``MetadataLogError`` for a malformed batch."""
    try:
        (count,) = _LEN.unpack_from(data, 0)
        pos, values = 4, []
        for _ in range(count):
            (n,) = _LEN.unpack_from(data, pos)
            pos += 4
            if pos + n > len(data):
                raise struct.error("value runs past the batch")
            values.append(bytes(data[pos : pos + n]))
            pos += n
    except struct.error as exc:
        raise MetadataLogError(f"malformed metadata batch: {exc}") from exc
    if pos != len(data):
        raise MetadataLogError("malformed metadata batch: trailing bytes")
    return values


class FencedMetadataLog(Protocol):
    """An ordered log of committed record values, offsets from 0, one writer at a time."""

    async def end_offset(self) -> int:
        """The offset the next appended record gets (a linearizable read)."""
        ...

    async def append(self, leadership: Leadership, values: Sequence[bytes], expected_end: int) -> int:
        """Commit ``values`` as one batch at ``expected_end``; the offset of its last record.

        ``NotControllerError`` when ``leadership`` is no longer current (nothing written);
        ``MetadataLogError`` when the log end is not ``expected_end`` (nothing written) or the
        outcome stays unknown after reading it back.
        """
        ...

    def follow(self, start: int) -> AsyncIterator[tuple[int, bytes]]:
        """Every committed record from ``start`` on, in order, waiting for new ones forever."""
        ...


class ControllerElection(Protocol):
    """Who may append: at most one holder of a current :class:`Leadership` at a time."""

    async def campaign(self) -> Leadership:
        """Wait until elected; the token to append with."""
        ...

    def lost(self) -> bool:
        """True once this process can no longer prove its leadership (stop acting)."""
        ...

    async def resign(self) -> None: ...
