"""Which leader epoch wrote which offsets: Kafka's ``LeaderEpochFileCache``.

Each partition keeps an ordered list of ``(epoch, start_offset)``: the first offset every
leader epoch wrote. It answers OffsetsForLeaderEpoch ("where did epoch N end?"), which a
follower uses after a leader change to find where its log diverges from the new leader's
and truncate there, instead of trusting its high watermark (KIP-101/KIP-279).

Invariant: epochs and start offsets both strictly increase along the list. Every change is
written to ``leader-epoch-checkpoint`` before the method returns, except with ``flush=False``:
``truncate_from_start`` (retention, DeleteRecords; as in Kafka, losing it in a crash only
leaves entries below the log start, which loading trims again) and a leader append's
``assign`` (see there); those are written by a later ``flush`` from a worker thread.

Not thread-safe except ``flush``: it belongs to one partition's ``Log`` and is changed on
the event loop; every checkpoint write copies the entries and writes them under
``_write_lock``, so writes land in the order their copies were taken.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

from brook.storage.checkpoint import EpochEntry, LeaderEpochCheckpointFile

__all__ = ["UNDEFINED_EPOCH", "UNDEFINED_EPOCH_OFFSET", "EpochEntry", "LeaderEpochFileCache"]

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1


class LeaderEpochFileCache:
    """The epoch -> start offset list of one partition, persisted in its checkpoint file."""

    def __init__(self, checkpoint: LeaderEpochCheckpointFile | None = None) -> None:
        """Load the entries from ``checkpoint`` (``None`` keeps the cache in memory only)."""
        self._checkpoint = checkpoint
        self._write_lock = threading.Lock()
        self._entries: list[EpochEntry] = []
        for entry in checkpoint.read() if checkpoint is not None else []:
            self._assign(entry)

    # -- reading ---------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[EpochEntry, ...]:
        return tuple(self._entries)

    @property
    def latest_epoch(self) -> int:
        """The newest epoch, or ``UNDEFINED_EPOCH`` if none is known."""
        return self._entries[-1].epoch if self._entries else UNDEFINED_EPOCH

    @property
    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    @property
    def earliest_entry(self) -> EpochEntry | None:
        return self._entries[0] if self._entries else None

    def previous_epoch(self) -> int:
        """The epoch before the latest one, or ``UNDEFINED_EPOCH``."""
        return self._entries[-2].epoch if len(self._entries) > 1 else UNDEFINED_EPOCH

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch that wrote ``offset`` (the last entry starting at or before it)."""
        index = bisect.bisect_right(self._entries, offset, key=lambda e: e.start_offset)
        return self._entries[index - 1].epoch if index else UNDEFINED_EPOCH

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """``(epoch, end_offset)`` for OffsetsForLeaderEpoch, with Kafka's semantics.

        * unknown epoch (``UNDEFINED_EPOCH``), or higher than any known: ``(-1, -1)``;
        * the latest epoch: it is still being written, so it ends at ``log_end_offset``;
        * an epoch we have: the start offset of the next epoch;
        * an epoch between two we have (it wrote nothing here): the largest epoch below it,
          ending where the next known epoch starts;
        * an epoch older than every entry (its data was deleted): the requested epoch,
          ending where the earliest known epoch starts, so a follower truncates to there.
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self._entries[-1].epoch:
            return requested_epoch, log_end_offset
        higher = bisect.bisect_right(self._entries, requested_epoch, key=lambda e: e.epoch)
        if higher == len(self._entries):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self._entries[0].start_offset
        return self._entries[higher - 1].epoch, self._entries[higher].start_offset

    # -- changing --------------------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int, *, flush: bool = True) -> bool:
        """Record that ``epoch`` starts at ``start_offset``; return whether anything changed.

        As in Kafka: assigning the latest epoch again at a later offset changes nothing
        (every batch of a follower's fetch carries its epoch, and only the first one counts).
        Anything else that breaks monotonicity wins over the entries it conflicts with: those
        with an epoch or start offset at or above the new one are removed first. That happens
        when a replica's log was truncated below what the cache still remembers.

        ``flush=False`` (a leader's append) leaves the checkpoint to the log's next flush,
        which writes it before the recovery point passes the new entry; a crash before then
        rebuilds the entry from the batches recovery scans, which carry their epoch.
        """
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"epoch {epoch} and start offset {start_offset} must be >= 0")
        entries = self._entries
        if entries and entries[-1].epoch == epoch and start_offset >= entries[-1].start_offset:
            return False  # every append as leader: checked before building an entry
        if not self._assign(EpochEntry(epoch, start_offset)):
            return False
        if flush:
            self._flush()
        return True

    def truncate_from_end(self, end_offset: int) -> None:
        """Remove every entry starting at or after ``end_offset`` (the log was truncated there)."""
        if end_offset >= 0 and self._entries and self._entries[-1].start_offset >= end_offset:
            self._remove_from_end(lambda e: e.start_offset >= end_offset)
            self._flush()

    def truncate_from_start(self, start_offset: int, *, flush: bool = True) -> None:
        """Forget epochs wholly below the new log start offset.

        The last epoch that started at or before ``start_offset`` is kept but moved to start
        there, so ``epoch_for_offset`` stays right for every offset still in the log.
        """
        if start_offset < 0 or not self._entries or self._entries[0].start_offset >= start_offset:
            return
        index = bisect.bisect_right(self._entries, start_offset, key=lambda e: e.start_offset)
        kept_epoch = self._entries[index - 1].epoch
        self._entries[:index] = [EpochEntry(kept_epoch, start_offset)]
        if flush:
            self._flush()

    def clear(self) -> None:
        """Forget everything (the replica is rebuilding its log from scratch)."""
        self._entries.clear()
        self._flush()

    # -- internals -------------------------------------------------------------------------

    def _assign(self, entry: EpochEntry) -> bool:
        latest = self._entries[-1] if self._entries else None
        if (
            latest is not None
            and entry.epoch == latest.epoch
            and entry.start_offset >= latest.start_offset
        ):
            return False
        self._remove_from_end(
            lambda e: e.epoch >= entry.epoch or e.start_offset >= entry.start_offset
        )
        self._entries.append(entry)
        return True

    def _remove_from_end(self, predicate: Callable[[EpochEntry], bool]) -> None:
        while self._entries and predicate(self._entries[-1]):
            self._entries.pop()

    def flush(self) -> None:
        """Write the checkpoint as the entries are now. Safe from a worker thread."""
        self._flush()

    def _flush(self) -> None:
        if self._checkpoint is not None:
            with self._write_lock:
                self._checkpoint.write(tuple(self._entries))
