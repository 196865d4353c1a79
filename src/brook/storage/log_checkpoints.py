"""The per-directory checkpoint files a ``LogManager`` keeps, written from its live logs.

``recovery-point-offset-checkpoint`` (where recovery after a crash starts),
``log-start-offset-checkpoint`` (so DeleteRecords and retention survive a restart) and
``replication-offset-checkpoint`` (each partition's high watermark, Kafka's
``ReplicaManager.checkpointHighWatermarks``: a restarted replica starts from
``min(checkpoint, log end)`` so it never serves as committed what the other replicas may not
hold). Each file lists every log of its directory, so a deleted topic drops out of it on the
next write. Writes fsync and run in worker threads; one lock keeps a write that took its
snapshot before a deletion from landing after the deletion's own rewrite.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from brook.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT_FILENAME,
    RECOVERY_POINT_CHECKPOINT_FILENAME,
    REPLICATION_OFFSET_CHECKPOINT_FILENAME,
    OffsetCheckpointFile,
)
from brook.storage.cleaner_manager import HighWatermarkSource
from brook.storage.log import Log

TopicPartition = tuple[str, int]


class LogDirCheckpoints:
    """The checkpoint half of ``LogManager``: it sets these attributes."""

    log_dirs: list[Path]
    _logs: dict[TopicPartition, Log]
    high_watermark: HighWatermarkSource | None
    _checkpoint_lock: threading.Lock

    def _write_offsets(self, filename: str, pick: Callable[[TopicPartition, Log], int],
                       only: Iterable[Path] | None) -> None:
        """Write ``filename`` in each directory (``only``: just these) from ``pick`` of
        every live log there (blocking: fsyncs)."""
        with self._checkpoint_lock:
            wanted = set(self.log_dirs if only is None else only)
            by_dir: dict[Path, dict[TopicPartition, int]] = {d: {} for d in wanted}
            for tp, plog in list(self._logs.items()):
                if plog.dir.parent in wanted:
                    by_dir[plog.dir.parent][tp] = pick(tp, plog)
            for log_dir, offsets in by_dir.items():
                OffsetCheckpointFile(log_dir / filename).write(offsets)

    def checkpoint_recovery_points(self, only: Iterable[Path] | None = None) -> None:
        self._write_offsets(RECOVERY_POINT_CHECKPOINT_FILENAME,
                            lambda _tp, plog: plog.recovery_point, only)

    def checkpoint_log_start_offsets(self, only: Iterable[Path] | None = None) -> None:
        self._write_offsets(LOG_START_OFFSET_CHECKPOINT_FILENAME,
                            lambda _tp, plog: plog.log_start_offset, only)

    def checkpoint_high_watermarks(self, only: Iterable[Path] | None = None) -> None:
        self._write_offsets(REPLICATION_OFFSET_CHECKPOINT_FILENAME, self.high_watermark_of, only)

    def high_watermark_of(self, tp: TopicPartition, plog: Log) -> int:
        """What the ``replication-offset-checkpoint`` records for a log: its partition's
        high watermark, or, with no partition installed on it (yet), what the checkpoint
        held when it was opened. Read from a worker thread: one attribute read each."""
        source = self.high_watermark
        hw = source(tp) if source is not None else None
        return plog.checkpointed_high_watermark if hw is None else hw
