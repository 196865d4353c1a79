"""The cluster's metadata log kept by etcd.

Key layout under the cluster's prefix ``P = /brook/<cluster id>/`` (see
``docs/decisions/0009-metadata-in-etcd.md`` for the argument):

==================  =======================================================================
``P/ctl/leader``    the active controller ``{node_id, incarnation}``, attached to its lease;
                    its create revision is the controller's fencing token (epoch)
``P/log/<last>``    one appended batch, keyed by the 20-digit offset of its *last* record, so
                    a range read from ``<offset>`` starts at the batch holding ``offset``
``P/log_end``       the offset the next record gets (decimal), written with each batch
==================  =======================================================================

An append is one transaction: *if* the leader key was created at my epoch *and* the log end
is where I expect it, *then* write the batch and the new end. A paused controller whose lease
expired finds the leader key gone or re-created at a later revision and writes nothing; a
retry after an unknown outcome finds the log end moved past its batch and reads it back.
Batch keys are never rewritten, so etcd's compaction drops only watch history, not records:
a reader that lost its watch resumes with a range read from its next offset.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Sequence

from brook.env.clock import Clock
from brook.raft.etcd_client import EtcdClient, EtcdUnavailable, KeyValue, WatchCompacted, prefix_end
from brook.raft.fenced import (
    Leadership,
    LogGapError,
    MetadataLogError,
    NotControllerError,
    decode_batch,
    encode_batch,
)

__all__ = ["EtcdMetadataLog", "cluster_prefix"]

log = logging.getLogger(__name__)

_PAGE = 16
"""Batches per range read: at most 16 MiB, within the client's receive limit."""
_RETRY_S = 0.2
_APPEND_ATTEMPTS = 10


def cluster_prefix(cluster_id: str) -> bytes:
    if not cluster_id or "/" in cluster_id:
        raise ValueError(f"cluster id {cluster_id!r} must be non-empty and contain no '/'")
    return f"/brook/{cluster_id}/".encode()


class EtcdMetadataLog:
    """:class:`~brook.raft.fenced.FencedMetadataLog` over etcd (any number of readers)."""

    def __init__(self, client: EtcdClient, prefix: bytes, clock: Clock) -> None:
        self._client = client
        self._clock = clock
        self.leader_key = prefix + b"ctl/leader"
        self._log_prefix = prefix + b"log/"
        self._end_key = prefix + b"log_end"

    def _batch_key(self, last_offset: int) -> bytes:
        return self._log_prefix + b"%020d" % last_offset

    def _records(self, kv: KeyValue) -> Iterator[tuple[int, bytes]]:
        suffix = kv.key[len(self._log_prefix):]
        if len(suffix) != 20 or not suffix.isdigit():
            # Not a key an append writes (an operator's stray put): no record can live there.
            log.warning("metadata log: ignoring foreign key %r", kv.key)
            return
        last = int(suffix)
        values = decode_batch(kv.value)
        base = last - len(values) + 1
        for i, value in enumerate(values):
            yield base + i, value

    async def end_offset(self) -> int:
        _, kv = await self._client.get(self._end_key)
        if kv is None:
            return 0
        if not kv.value.isdigit():
            raise MetadataLogError(f"{self._end_key!r} holds {kv.value[:40]!r}, not an offset")
        return int(kv.value)

    async def append(self, leadership: Leadership, values: Sequence[bytes], expected_end: int) -> int:
        if not values:
            raise ValueError("an append needs at least one record")
        batch = encode_batch(values)
        last = expected_end + len(values) - 1
        c = self._client
        end_matches = (
            c.cmp(self._end_key, "version", 0) if expected_end == 0
            else c.cmp(self._end_key, "value", str(expected_end).encode())
        )
        compare = [c.cmp(self.leader_key, "create", leadership.epoch), end_matches]
        success = [c.put(self._batch_key(last), batch), c.put(self._end_key, str(last + 1).encode())]
        failure = [c.read(self.leader_key), c.read(self._end_key)]
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                if attempt:
                    # The previous attempt's outcome is unknown: was the batch applied?
                    _, kv = await c.get(self._batch_key(last))
                    if kv is not None:
                        if kv.value == batch:
                            return last
                        raise MetadataLogError(f"offset {last} holds another batch")
                result = await c.txn(compare, success, failure)
            except EtcdUnavailable as exc:
                log.warning("metadata append at %d: %s; reading it back", expected_end, exc)
                await self._clock.sleep(_RETRY_S)
                continue
            if result.succeeded:
                return last
            leader, end = result.ranges
            if not leader or leader[0].create_revision != leadership.epoch:
                raise NotControllerError(
                    f"controller {leadership.node_id} lost leadership (epoch {leadership.epoch})")
            actual = end[0].value.decode(errors="replace") if end else "0"
            raise MetadataLogError(f"metadata log end is {actual}, not {expected_end}")
        raise MetadataLogError(f"metadata append at {expected_end}: outcome unknown")

    async def read(self, start: int) -> tuple[int, list[tuple[int, bytes]]]:
        """Committed records from ``start`` up to the end now: ``(revision read at, records)``.

        ``LogGapError`` when ``start`` is below the first record kept (a snapshot replaced it).
        """
        out: list[tuple[int, bytes]] = []
        revision = 0
        key, end = self._batch_key(start), prefix_end(self._log_prefix)
        expected = start
        while True:
            rev, kvs, more = await self._client.range(key, end, limit=_PAGE, revision=revision)
            revision = revision or rev
            for kv in kvs:
                for offset, value in self._records(kv):
                    if offset < expected:
                        continue
                    if offset != expected:
                        raise LogGapError(f"metadata log has no offset {expected} (next is {offset})")
                    out.append((offset, value))
                    expected += 1
            if not more or not kvs:
                return revision, out
            key = kvs[-1].key + b"\0"

    async def follow(self, start: int) -> AsyncIterator[tuple[int, bytes]]:
        next_offset = start
        while True:
            try:
                revision, records = await self.read(next_offset)
                for offset, value in records:
                    yield offset, value
                    next_offset = offset + 1
                watch = self._client.watch(self._log_prefix, prefix_end(self._log_prefix), revision + 1)
                async for events in watch:
                    for ev in events:
                        if ev.kind != "put":
                            continue  # a snapshot trimming old batches
                        for offset, value in self._records(ev.kv):
                            if offset < next_offset:
                                continue
                            if offset != next_offset:
                                raise _Resync
                            yield offset, value
                            next_offset = offset + 1
            except (EtcdUnavailable, WatchCompacted, _Resync) as exc:
                log.info("metadata log watch from %d resumes: %s", next_offset, exc or "gap")
                await self._clock.sleep(_RETRY_S)


class _Resync(Exception):
    """The watch skipped offsets: read them from the keys."""
