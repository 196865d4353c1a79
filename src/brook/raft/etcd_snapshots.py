"""Snapshots of the cluster's metadata in etcd, and trimming the log below them.

================================  ===========================================================
``P/snap/<end>/<chunk>``          the snapshot's records, framed as batches of at most
                                  ``MAX_BATCH_BYTES`` (etcd refuses requests over 1.5 MiB)
``P/snap/<end>/manifest``         ``{"end": ..., "chunks": n}``, written with
``P/snap_current``                the end offset of the newest complete snapshot
================================  ===========================================================

Every write is fenced like an append (the leader key's create revision must be the writer's
epoch), so only the active controller snapshots. The chunks go first, then the manifest and
``snap_current`` in one transaction: a snapshot is visible complete or not at all, and a
controller that dies midway leaves chunks no manifest names (the next snapshot's clean-up
deletes them). Only then are the log's batches wholly at or below the snapshot deleted, and the
older snapshots; a reader that was behind them gets ``LogGapError`` and reloads the snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from brook.raft.etcd_client import EtcdClient, EtcdUnavailable
from brook.raft.fenced import (
    MAX_BATCH_BYTES,
    Leadership,
    MetadataLogError,
    NotControllerError,
    decode_batch,
    encode_batch,
)

__all__ = ["EtcdSnapshots"]

log = logging.getLogger(__name__)


def _chunks(values: Sequence[bytes]) -> list[bytes]:
    """The values framed as batches of at most ``MAX_BATCH_BYTES``, in order."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 4
    for v in values:
        if len(v) + 8 > MAX_BATCH_BYTES:
            raise ValueError(f"a metadata record of {len(v)} bytes cannot be snapshotted")
        if current and size + 4 + len(v) > MAX_BATCH_BYTES:
            out.append(encode_batch(current))
            current, size = [], 4
        current.append(v)
        size += 4 + len(v)
    if current or not out:
        out.append(encode_batch(current))
    return out


class EtcdSnapshots:
    def __init__(self, client: EtcdClient, prefix: bytes, leader_key: bytes) -> None:
        self._client = client
        self._prefix = prefix + b"snap/"
        self._current = prefix + b"snap_current"
        self._log_prefix = prefix + b"log/"
        self._leader_key = leader_key

    def _dir(self, end: int) -> bytes:
        return self._prefix + b"%020d/" % end

    async def _fenced(self, leadership: Leadership, success: list[object]) -> None:
        c = self._client
        result = await c.txn([c.cmp(self._leader_key, "create", leadership.epoch)], success,
                             [c.read(self._leader_key)])
        if not result.succeeded:
            raise NotControllerError(
                f"controller {leadership.node_id} lost leadership (epoch {leadership.epoch})")

    async def write(self, leadership: Leadership, end: int, values: Sequence[bytes]) -> None:
        """Store a snapshot of the image at offset ``end``, then trim the log below it."""
        c = self._client
        chunks = _chunks(values)
        base = self._dir(end)
        for i, chunk in enumerate(chunks):
            await self._fenced(leadership, [c.put(base + b"%06d" % i, chunk)])
        manifest = json.dumps({"end": end, "chunks": len(chunks)}).encode()
        await self._fenced(leadership, [c.put(base + b"manifest", manifest),
                                        c.put(self._current, str(end).encode())])
        # Batches keyed by a last offset <= end are wholly in the snapshot; older snapshots and
        # any chunks a dead controller left are superseded.
        await self._fenced(leadership, [
            c.delete(self._log_prefix, self._log_prefix + b"%020d" % (end + 1)),
            c.delete(self._prefix, base),
        ])
        log.info("metadata snapshot at offset %d: %d records in %d chunks", end, len(values),
                 len(chunks))

    async def load(self) -> tuple[int, list[bytes]] | None:
        """The newest complete snapshot as ``(end offset, record values)``, or None."""
        c = self._client
        _, current = await c.get(self._current)
        if current is None:
            return None
        try:
            end = int(current.value)
        except ValueError:
            raise MetadataLogError(f"snapshot pointer {current.value!r} is not an offset") from None
        base = self._dir(end)
        _, manifest = await c.get(base + b"manifest")
        if manifest is None:
            raise MetadataLogError(f"snapshot at {end} has no manifest")
        try:
            chunks = int(json.loads(manifest.value)["chunks"])
        except (ValueError, KeyError, TypeError):
            raise MetadataLogError(f"snapshot at {end} has an unreadable manifest") from None
        values: list[bytes] = []
        for i in range(chunks):
            _, kv = await c.get(base + b"%06d" % i)
            if kv is None:
                raise MetadataLogError(f"snapshot at {end} lacks chunk {i}")
            values.extend(decode_batch(kv.value))
        return end, values

    async def load_retrying(self, attempts: int = 50) -> tuple[int, list[bytes]] | None:
        """``load``, riding out a brief etcd outage or a snapshot being replaced meanwhile."""
        last: Exception | None = None
        for _ in range(attempts):
            try:
                return await self.load()
            except (EtcdUnavailable, MetadataLogError) as exc:
                last = exc
        raise MetadataLogError(f"cannot load the metadata snapshot: {last}")
