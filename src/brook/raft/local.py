"""A single-voter metadata quorum over a local log.

With one voter, the leader's own durable log is a majority: a record is committed once it is
fsynced. This class is the ``RaftClient`` surface the controller and the metadata loader use
(``append`` returns once committed, ``read_committed`` replays from the start), so the
multi-voter Raft replaces it without changing its callers. The log is a partition log
(``__cluster_metadata-0``) of RecordBatches, as in KRaft; each record value is one framed
metadata record. It is owned here alone: the log manager never opens it, and it has no time or
size retention (the image is rebuilt by replaying it from the start).

A failed write or fsync leaves the log in an unknown state: the append is cut back off the log
(best effort), the client refuses every later append, and ``MetadataLogError`` tells the
controller, whose fault handler stops the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

from brook.raft.client import MetadataLogError
from brook.records.batch import iter_batches
from brook.records.record import build_batch, decode_records
from brook.storage.errors import StorageError
from brook.storage.log import Log
from brook.storage.log_config import LogConfig
from brook.storage.log_dirs import CLUSTER_METADATA_TOPIC

__all__ = ["METADATA_TOPIC", "LocalRaftClient", "MetadataLogError"]

METADATA_TOPIC = CLUSTER_METADATA_TOPIC
_EPOCH = 1
_CONFIG = {
    "segment.bytes": str(64 * 1024 * 1024),
    "max.message.bytes": str(8 * 1024 * 1024),
    "retention.ms": "-1",
    "retention.bytes": "-1",
    "cleanup.policy": "delete",
}

log = logging.getLogger(__name__)


class LocalRaftClient:
    """Lifecycle: ``open`` at start (recovers the log), ``append`` from the controller (one at
    a time: the controller serializes its operations), ``close`` at shutdown."""

    def __init__(self, metadata_dir: Path, now_ms: int) -> None:
        self.dir = metadata_dir / f"{METADATA_TOPIC}-0"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = LogConfig.from_props(_CONFIG, {})
        self.log = Log.open(
            self.dir,
            config,
            recovery_point=0,
            log_start_offset=0,
            clean_shutdown=False,
            now_ms=now_ms,
        )
        self._lock = asyncio.Lock()
        self._failed: BaseException | None = None

    @property
    def end_offset(self) -> int:
        return self.log.log_end_offset

    def read_committed(self) -> Iterator[tuple[int, bytes]]:
        """Every committed record value with its offset, from the start of the log."""
        offset = self.log.log_start_offset
        end = self.log.log_end_offset
        while offset < end:
            info = self.log.read(offset, 1 << 20, end, True)
            if not info.chunks:
                break
            for chunk in info.chunks:
                for pos, header in iter_batches(chunk):
                    for record in decode_records(chunk, pos):
                        if record.value is not None:
                            yield record.offset, record.value
                    offset = header.last_offset + 1

    async def append(self, values: Sequence[bytes], now_ms: int) -> int:
        """Append ``values`` as one batch and return the offset of the last once it is durable.

        Raises ``MetadataLogError`` when the write or the fsync failed (the log is unusable
        from then on); a batch refused before anything was written (too large) raises its
        storage error and leaves the log as it was."""
        async with self._lock:
            if self._failed is not None:
                raise MetadataLogError("the metadata log failed earlier") from self._failed
            batch = build_batch(
                [(None, v, (), now_ms) for v in values], partition_leader_epoch=_EPOCH
            )
            end = self.log.log_end_offset
            try:
                info = self.log.append_as_leader(memoryview(batch), _EPOCH, now_ms)
            except StorageError:
                if self.log.log_end_offset == end:
                    raise
                self._fail(end, RuntimeError("the metadata log moved on a failed append"))
                raise
            except OSError as exc:
                self._fail(end, exc)
                raise MetadataLogError(f"metadata log write failed: {exc}") from exc
            try:
                await asyncio.to_thread(self.log.flush, None)
            except OSError as exc:
                self._fail(end, exc)
                raise MetadataLogError(f"metadata log fsync failed: {exc}") from exc
            return int(info.last_offset)

    def _fail(self, end: int, exc: BaseException) -> None:
        """Refuse every later append and cut the failed one off the log, so that even a
        process that is not stopped at once never replays it."""
        self._failed = exc
        try:
            self.log.truncate_to(end)
        except Exception:  # the disk is failing: the process is about to stop anyway
            log.exception("could not cut the failed append off the metadata log")

    def close(self) -> None:
        if self._failed is None:
            self.log.flush(None)
        self.log.close()
