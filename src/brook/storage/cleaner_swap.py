"""The on-disk half of a cleaning pass: the segments it reads and writes, the swap of its
output into a log (Kafka's ``LocalLog.replaceSegments``) and the completion of a swap that a
crash interrupted (Kafka's ``LogLoader`` swap recovery). See :mod:`brook.storage.cleaner`.

File states of a cleaned segment ``<base>``, in order: ``.cleaned`` (written and fsynced by
the worker thread; a crash leaves a stray the loader deletes), ``.swap`` (the log file's
rename commits the swap: from then on the loader completes it), the old segments' files
renamed ``.deleted`` (unlinked later off the event loop, or by the loader), then the final
names. Every prefix of that sequence loads as a valid log.

Concurrency: :func:`still_in_log` and :func:`replace_segments` run on the event-loop thread
(the latter changes the segment list through ``LocalLog.replace_segments``); :func:`complete_interrupted_swaps`
runs in the loader before the log exists.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from brook.records.batch import validate_batch
from brook.records.errors import CorruptRecordError
from brook.storage.cleaner_filter import read_segment_batches
from brook.storage.local_log import LocalLog
from brook.storage.segment import (
    INDEX_FILE_SUFFIX,
    LOG_FILE_SUFFIX,
    TIME_INDEX_FILE_SUFFIX,
    LogSegment,
    segment_file_name,
)

__all__ = [
    "CLEANED_FILE_SUFFIX",
    "DELETED_FILE_SUFFIX",
    "SWAP_FILE_SUFFIX",
    "CleanedSegment",
    "SourceSegment",
    "complete_interrupted_swaps",
    "replace_segments",
    "still_in_log",
]

CLEANED_FILE_SUFFIX = ".cleaned"
SWAP_FILE_SUFFIX = ".swap"
DELETED_FILE_SUFFIX = ".deleted"
_SEGMENT_FILE_SUFFIXES = (INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX, LOG_FILE_SUFFIX)
"""The log file comes last: renaming it is what commits (or completes) a swap."""


@dataclass(slots=True)
class SourceSegment:
    """A segment to be rewritten, as snapshotted on the event loop: its own read-only
    descriptor (owned by the pass), its size, and the segment that followed it."""

    segment: LogSegment
    fd: int
    size: int
    following: LogSegment


@dataclass(slots=True)
class CleanedSegment:
    """A ``.cleaned`` segment on disk and the segments it replaces."""

    base_offset: int
    sources: list[SourceSegment]
    directory: Path

    def path(self, suffix: str, state: str) -> Path:
        return self.directory / (segment_file_name(self.base_offset, suffix) + state)

    def delete_files(self) -> None:
        for suffix in _SEGMENT_FILE_SUFFIXES:
            for state in (CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX):
                self.path(suffix, state).unlink(missing_ok=True)


def still_in_log(local: LocalLog, sources: list[SourceSegment]) -> bool:
    """The group's segments, and the one after it, are the very objects planned on."""
    for source in sources:
        if local.segment(source.segment.base_offset) is not source.segment:
            return False
        if source.segment.size_bytes != source.size:
            return False
    following = sources[-1].following
    return local.segment(following.base_offset) is following


def replace_segments(local: LocalLog, cleaned: CleanedSegment, now_ms: int) -> list[Path]:
    """Kafka's ``LocalLog.replaceSegments``, in the order the loader can finish from:
    ``.cleaned`` to ``.swap`` (log file last: the commit), old files to ``.deleted``, then
    ``.swap`` to the final names. Returns the ``.deleted`` files, to unlink off the loop."""
    for suffix in _SEGMENT_FILE_SUFFIXES:
        os.replace(
            cleaned.path(suffix, CLEANED_FILE_SUFFIX), cleaned.path(suffix, SWAP_FILE_SUFFIX)
        )
    old_segments = [source.segment for source in cleaned.sources]
    local.replace_segments(local.new_segment(cleaned.base_offset, now_ms), old_segments)
    deleted: list[Path] = []
    for old in old_segments:
        for path in (old.log_path, old.offset_index.path, old.time_index.path):
            target = path.with_name(path.name + DELETED_FILE_SUFFIX)
            try:
                os.replace(path, target)
            except FileNotFoundError:
                continue
            deleted.append(target)
        old.delete()  # releases the descriptor; readers' maps stay valid
    for suffix in _SEGMENT_FILE_SUFFIXES:
        os.replace(cleaned.path(suffix, SWAP_FILE_SUFFIX), cleaned.path(suffix, ""))
    return deleted


def complete_interrupted_swaps(directory: Path) -> list[int]:
    """Finish swaps a crash interrupted (Kafka's ``LogLoader`` swap completion).

    Each ``<base>.log.swap`` is a cleaned segment whose swap was committed: the old segments
    whose base offsets fall in ``[base, next offset of the swap)`` are deleted and the swap
    file takes the name ``<base>.log``. Its index files, in whatever state, are deleted; the
    caller rebuilds them (``LogSegment.recover``) for the returned base offsets. A swap file
    is trusted only if it is whole (every byte in CRC-valid batches with increasing offsets
    from its base), which a committed one always is because it was fsynced before the rename;
    anything else cannot come from a finished cleaning and is deleted. Leftover ``.cleaned``
    files are the loader's to delete.
    """
    names = os.listdir(directory)
    swap_name = LOG_FILE_SUFFIX + SWAP_FILE_SUFFIX
    swaps = sorted(
        int(name[: -len(swap_name)])
        for name in names
        if name.endswith(swap_name) and name[: -len(swap_name)].isdigit()
    )
    old_bases = sorted(
        int(name[: -len(LOG_FILE_SUFFIX)])
        for name in names
        if name.endswith(LOG_FILE_SUFFIX) and name[: -len(LOG_FILE_SUFFIX)].isdigit()
    )
    completed = []
    for base in swaps:
        swap_path = directory / (segment_file_name(base, LOG_FILE_SUFFIX) + SWAP_FILE_SUFFIX)
        next_offset = _next_offset_of_whole_file(swap_path, base)
        if next_offset is None:
            swap_path.unlink()
            continue
        for old in old_bases:
            if base <= old < max(next_offset, base + 1):
                for suffix in _SEGMENT_FILE_SUFFIXES:
                    (directory / segment_file_name(old, suffix)).unlink(missing_ok=True)
        for suffix in (INDEX_FILE_SUFFIX, TIME_INDEX_FILE_SUFFIX):
            for state in (CLEANED_FILE_SUFFIX, SWAP_FILE_SUFFIX):
                (directory / (segment_file_name(base, suffix) + state)).unlink(missing_ok=True)
        os.replace(swap_path, directory / segment_file_name(base, LOG_FILE_SUFFIX))
        completed.append(base)
    return completed


def _next_offset_of_whole_file(path: Path, base_offset: int) -> int | None:
    """The offset after the last batch of a segment file made only of valid batches whose
    offsets increase from ``base_offset`` (``base_offset`` if empty); None otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    next_offset = base_offset
    covered = 0
    try:
        size = os.fstat(fd).st_size
        for view, pos, header in read_segment_batches(fd, size, 1 << 20, threading.Event()):
            validate_batch(view, pos, header)
            if header.base_offset < next_offset:
                return None
            next_offset = header.next_offset
            covered += header.size
    except CorruptRecordError:
        return None
    finally:
        os.close(fd)
    return next_offset if covered == size else None
