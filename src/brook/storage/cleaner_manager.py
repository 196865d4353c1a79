"""Which log to compact, when, and how far it is already compacted: Kafka's
``LogCleanerManager`` (selection and the ``cleaner-offset-checkpoint``) and ``LogCleaner``
(the cleaning loop), for logs whose ``cleanup.policy`` contains ``compact``.

Each log has a *first dirty offset*: everything before it has been compacted against
everything before it. It is kept per log directory in ``cleaner-offset-checkpoint``
(Kafka's file and format). For each compacted log the manager computes:

* the first uncleanable offset: the lowest of the active segment's base offset (the active
  segment is never cleaned), the high watermark (records that replication may still
  truncate must not decide what older records are removed; Kafka uses the last stable
  offset, which is at most the high watermark), the first offset of an open transaction,
  and, with ``min.compaction.lag.ms``, the base offset of the first dirty segment holding a
  record younger than the lag;
* the dirty ratio: bytes of the segments in ``[first dirty, first uncleanable)`` over
  those plus the bytes before the first dirty offset;
* whether ``max.compaction.lag.ms`` forces a pass: the first batch of some dirty segment is
  older than the lag.

The filthiest log whose ratio exceeds ``min.cleanable.dirty.ratio`` (or that is forced)
is cleaned, one log at a time, by :class:`LogCleaner`. Retention of ``compact,delete``
logs is the log manager's ordinary retention pass, which applies ``retention.ms`` and
``retention.bytes`` whenever the policy contains ``delete``.

Lifecycle: the :class:`~brook.storage.log_manager.LogManager` makes one manager and one
cleaner, loads the checkpoints at startup, and its background task starts
:meth:`LogCleaner.clean_filthiest_log` every ``log.cleaner.backoff.ms`` (at once again
after a pass that did work). Concurrency: all methods run on the event loop except the
checkpoint writes and the pass's middle step, which run in worker threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.storage.checkpoint import OffsetCheckpointFile, fsync_dir
from brook.storage.cleaner import (
    Cleaner,
    CleanerConfig,
    CleanerStats,
    CleaningAbortedError,
    CleaningResult,
)

if TYPE_CHECKING:
    from brook.storage.log import Log

__all__ = [
    "CLEANER_OFFSET_CHECKPOINT_FILENAME",
    "CleanableOffsets",
    "LogCleaner",
    "LogCleanerManager",
    "LogToClean",
    "clean_now",
    "cleanable_offsets",
    "max_compaction_delay",
]

CLEANER_OFFSET_CHECKPOINT_FILENAME = "cleaner-offset-checkpoint"

TopicPartition = tuple[str, int]
HighWatermarkSource = Callable[[TopicPartition], "int | None"]
"""The partition's high watermark, or None when unknown (cleaning then stops at the log end)."""


class CleanableOffsets(NamedTuple):
    first_dirty_offset: int
    first_uncleanable_offset: int
    force_update_checkpoint: bool
    """The checkpoint was outside the log (retention, DeleteRecords, truncation) and was reset."""


def cleanable_offsets(
    log: Log, last_clean_offset: int | None, now_ms: int, high_watermark: int | None = None
) -> CleanableOffsets:
    """Kafka's ``LogCleanerManager.cleanableOffsets``."""
    log_start = log.log_start_offset
    first_dirty = log_start if last_clean_offset is None else last_clean_offset
    force_update = False
    if first_dirty < log_start or first_dirty > log.log_end_offset:
        first_dirty, force_update = log_start, last_clean_offset is not None
    bounds = [log.active_segment.base_offset]
    if high_watermark is not None:
        bounds.append(high_watermark)
    if log.producer_state.ongoing_txns:
        bounds.append(min(log.producer_state.ongoing_txns))
    lag_ms = log.config.min_compaction_lag_ms
    if lag_ms > 0:
        segments = log.segments
        for segment, following in pairwise(segments):
            if following.base_offset <= first_dirty:
                continue
            if segment.largest_timestamp > now_ms - lag_ms:
                bounds.append(segment.base_offset)
                break
    return CleanableOffsets(first_dirty, min(bounds), force_update)


def clean_now(
    log: Log,
    now_ms: int,
    *,
    first_dirty_offset: int | None = None,
    high_watermark: int | None = None,
    cleaner_config: CleanerConfig | None = None,
) -> CleanerStats | None:
    """Compact ``log`` now, in the calling thread, whatever its dirty ratio (tools, tests).

    Kafka's rules apply (latest record per key below the active segment, the high
    watermark and ``min.compaction.lag.ms``; tombstones until their delete horizon).
    ``first_dirty_offset`` defaults to the log start: every record is deduplicated. The log
    manager instead runs passes in a worker thread from its background task. Returns None
    when there is nothing to clean.
    """
    dirty, uncleanable, _ = cleanable_offsets(log, first_dirty_offset, now_ms, high_watermark)
    return Cleaner(cleaner_config).clean(log, now_ms, dirty, uncleanable)


def max_compaction_delay(log: Log, first_dirty_offset: int, now_ms: int) -> int:
    """Kafka's ``maxCompactionDelay``: how long past ``max.compaction.lag.ms`` the oldest
    dirty segment's first batch is (0 if none is)."""
    clean_until_ms = now_ms - max(log.config.max_compaction_lag_ms, 0)
    if clean_until_ms <= 0:
        return 0
    segments = log.segments
    earliest = None
    for segment, following in pairwise(segments):
        if following.base_offset <= first_dirty_offset or segment.size_bytes == 0:
            continue
        first_batch_timestamp = segment.log.scan_header(0)[3]
        if first_batch_timestamp > 0 and (earliest is None or first_batch_timestamp < earliest):
            earliest = first_batch_timestamp
    if earliest is None or earliest >= clean_until_ms:
        return 0
    return clean_until_ms - earliest


@dataclass(frozen=True, slots=True)
class LogToClean:
    """Kafka's ``LogToClean``: a compacted log and how dirty it is."""

    topic_partition: TopicPartition
    log: Log
    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int
    cleanable_bytes: int
    needs_compaction_now: bool

    @property
    def total_bytes(self) -> int:
        return self.clean_bytes + self.cleanable_bytes

    @property
    def cleanable_ratio(self) -> float:
        return self.cleanable_bytes / self.total_bytes if self.total_bytes else 0.0

    @classmethod
    def of(
        cls, tp: TopicPartition, log: Log, offsets: CleanableOffsets, needs_compaction_now: bool
    ) -> LogToClean:
        first_dirty, first_uncleanable, _ = offsets
        segments = log.segments
        clean = dirty = 0
        for i, segment in enumerate(segments):
            end = segments[i + 1].base_offset if i + 1 < len(segments) else log.log_end_offset
            if segment.base_offset < first_dirty:
                clean += segment.size_bytes
            if end > first_dirty and segment.base_offset < first_uncleanable:
                dirty += segment.size_bytes
        return cls(tp, log, first_dirty, first_uncleanable, clean, dirty, needs_compaction_now)


class LogCleanerManager:
    """First dirty offsets of every compacted log, by log directory, and the choice of the
    next log to clean. Partitions whose data could not be read are left alone until restart
    (Kafka's uncleanable partitions)."""

    def __init__(self) -> None:
        self._checkpoints: dict[Path, dict[TopicPartition, int]] = {}
        self.uncleanable: set[TopicPartition] = set()

    @staticmethod
    def _file(log_dir: Path) -> OffsetCheckpointFile:
        return OffsetCheckpointFile(log_dir / CLEANER_OFFSET_CHECKPOINT_FILENAME)

    def load_checkpoints(self, log_dir: Path) -> None:
        self._checkpoints[log_dir] = self._file(log_dir).read()

    def checkpoint_offset(self, log: Log, tp: TopicPartition) -> int | None:
        return self._checkpoints.get(log.dir.parent, {}).get(tp)

    def update_checkpoint(self, log: Log, tp: TopicPartition, offset: int) -> None:
        self._checkpoints.setdefault(log.dir.parent, {})[tp] = offset

    def write_checkpoint(self, log_dir: Path, live: Iterable[TopicPartition]) -> None:
        """Write ``log_dir``'s checkpoint with the entries of logs that still exist
        (blocking: fsyncs)."""
        offsets = self._checkpoints.get(log_dir, {})
        kept = {tp: offsets[tp] for tp in live if tp in offsets}
        self._checkpoints[log_dir] = kept
        self._file(log_dir).write(kept)

    def grab_filthiest_compacted_log(
        self,
        logs: Iterable[tuple[TopicPartition, Log]],
        now_ms: int,
        high_watermark: HighWatermarkSource | None = None,
    ) -> LogToClean | None:
        """Kafka's ``grabFilthiestCompactedLog``: the dirtiest log worth a pass, or None."""
        best: LogToClean | None = None
        for tp, log in logs:
            if log.closed or not log.config.compact or tp in self.uncleanable:
                continue
            hw = high_watermark(tp) if high_watermark is not None else None
            offsets = cleanable_offsets(log, self.checkpoint_offset(log, tp), now_ms, hw)
            if offsets.force_update_checkpoint:
                self.update_checkpoint(log, tp, offsets.first_dirty_offset)
            forced = max_compaction_delay(log, offsets.first_dirty_offset, now_ms) > 0
            candidate = LogToClean.of(tp, log, offsets, forced)
            if candidate.total_bytes == 0 or candidate.cleanable_bytes == 0:
                continue
            if not forced and candidate.cleanable_ratio <= log.config.min_cleanable_dirty_ratio:
                continue
            if best is None or candidate.cleanable_ratio > best.cleanable_ratio:
                best = candidate
        return best


class LogCleaner:
    """Kafka's ``LogCleaner`` with one cleaner: runs passes for the log manager.

    A pass plans and swaps on the event loop and builds in a worker thread, so the event
    loop is never held for more than the planning (a few small reads) and the swap (a few
    renames and unlinks). :meth:`shutdown` makes a running build stop at its next batch.
    ``last_stats`` keeps the latest pass's counters for metrics.
    """

    def __init__(self, config: CleanerConfig, manager: LogCleanerManager) -> None:
        self.config = config
        self.manager = manager
        self.cleaner = Cleaner(config)
        self.last_stats: CleanerStats | None = None

    def shutdown(self) -> None:
        self.cleaner.abort.set()

    async def clean_filthiest_log(
        self,
        logs: list[tuple[TopicPartition, Log]],
        now_ms: int,
        high_watermark: HighWatermarkSource | None = None,
    ) -> bool:
        """Clean the filthiest compacted log, if any is dirty enough; True if one was."""
        chosen = self.manager.grab_filthiest_compacted_log(logs, now_ms, high_watermark)
        if chosen is None or self.cleaner.abort.is_set():
            return False
        log, tp = chosen.log, chosen.topic_partition
        plan = self.cleaner.prepare(
            log, now_ms, chosen.first_dirty_offset, chosen.first_uncleanable_offset
        )
        if plan is None:
            return False
        future = asyncio.get_running_loop().run_in_executor(None, self.cleaner.build, plan)
        try:
            # Shielded: if this task is cancelled the thread still owns the plan's
            # descriptors, so it is told to stop and cleans up after itself.
            result = await asyncio.shield(future)
        except asyncio.CancelledError:
            self.cleaner.abort.set()
            future.add_done_callback(_discard_output)
            raise
        except CleaningAbortedError:
            return False
        except (CorruptRecordError, InvalidRecordError):
            self.manager.uncleanable.add(tp)
            return False
        except OSError:
            return False  # the log was deleted under the pass, or the disk failed
        stats = self.cleaner.swap(log, result)
        self.last_stats = stats
        live = None
        if stats.complete and not log.closed:
            self.manager.update_checkpoint(log, tp, stats.end_offset)
            live = [other for other, other_log in logs if other_log.dir.parent == log.dir.parent]
        await asyncio.to_thread(self._after_swap, log, result, live)
        return True

    def _after_swap(
        self, log: Log, result: CleaningResult, live: list[TopicPartition] | None
    ) -> None:
        """Unlink the replaced files, make the swap durable, then record it in the
        checkpoint (only after a complete pass)."""
        result.remove_deleted_files()
        try:
            fsync_dir(log.dir)
        except FileNotFoundError:
            return  # deleted meanwhile
        if live is not None:
            self.manager.write_checkpoint(log.dir.parent, live)


def _discard_output(future: asyncio.Future[CleaningResult]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().discard()
