"""The parts of :class:`brook.storage.log.Log` that remove data: retention, DeleteRecords and
truncation. They are functions over a log's public face (:class:`RetainedLog`) that change
its segments through :class:`~brook.storage.local_log.LocalLog` and return the new log start
offset for the log to take; ``Log`` exposes each one as a method and nothing else calls them.

Retention follows Kafka's ``UnifiedLog.deleteOldSegments``:

* segments wholly below the log start offset always go;
* with ``cleanup.policy`` containing ``delete``, also the oldest segments while their largest
  timestamp is older than ``retention.ms``, and while the log exceeds ``retention.bytes`` by
  at least the segment's size;
* only segments wholly below the high watermark, walking from the oldest and stopping at the
  first one that must stay; the active segment goes only if it has data, after a roll.

Deleted segment files are not renamed ``.deleted`` and removed after ``file.delete.delay.ms``:
Kafka delays so that in-flight reads of the old file finish, but here a reader holds an
``mmap`` (or the descriptor), and on POSIX an unlinked file stays readable through both until
they are released. The segment list, the log start offset and the leader-epoch cache change
at once, on the event loop; the files (unlinks, the epoch checkpoint, producer snapshots below
the new start) are queued with ``Log.defer_io`` and removed by ``Log.run_deferred_io`` in a
worker thread, or before returning when the caller does not pass ``defer_io=True``. A
removed segment is unreachable by new reads, and reads are synchronous on the loop, so no
read can be using it when its file goes. Segments are removed oldest first, so a crash
mid-way leaves a log without holes, and the loader deletes any orphaned index files; a crash
before the work ran leaves the old segments, which the next retention pass removes again.

Truncation (a follower diverged) keeps its file work inline: it first runs any queued work,
so a queued unlink never hits a file a truncation recreated under the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from brook.storage.errors import OffsetOutOfRangeError
from brook.storage.leader_epoch import LeaderEpochFileCache
from brook.storage.local_log import LocalLog
from brook.storage.log_config import LogConfig
from brook.storage.producer_state import ProducerStateManager
from brook.storage.segment import LogSegment

__all__ = [
    "RetainedLog",
    "delete_old_segments",
    "increment_log_start_offset",
    "truncate_to",
]

Predicate = Callable[[LogSegment, "LogSegment | None"], bool]


class RetainedLog(Protocol):
    """What removing data needs of a log: its public face (``Log`` is one)."""

    @property
    def config(self) -> LogConfig: ...
    @property
    def local_log(self) -> LocalLog: ...
    @property
    def log_start_offset(self) -> int: ...
    @property
    def leader_epoch_cache(self) -> LeaderEpochFileCache: ...
    @property
    def producer_state(self) -> ProducerStateManager: ...
    def roll(self, now_ms: int) -> LogSegment: ...
    def defer_io(self, work: Callable[[], None]) -> None: ...


def delete_old_segments(
    log: RetainedLog, now_ms: int, high_watermark: int | None
) -> tuple[int, int]:
    """Apply retention, leaving the file work queued with ``log.defer_io``; return how many
    segments were deleted and the new log start offset (for the log to take)."""
    config = log.config
    start = log.log_start_offset
    deleted, start = _delete_matching(log, start, _below(start), high_watermark, now_ms)
    if not config.delete:
        return deleted, start
    if config.retention_ms >= 0:
        retention_ms = config.retention_ms

        def expired(segment: LogSegment, _next: LogSegment | None) -> bool:
            return now_ms - segment.largest_timestamp > retention_ms

        more, start = _delete_matching(log, start, expired, high_watermark, now_ms)
        deleted += more
    if config.retention_bytes >= 0:
        excess = [log.local_log.size_bytes - config.retention_bytes]

        def over_size(segment: LogSegment, _next: LogSegment | None) -> bool:
            if excess[0] - segment.size_bytes >= 0:
                excess[0] -= segment.size_bytes
                return True
            return False

        if excess[0] > 0:
            more, start = _delete_matching(log, start, over_size, high_watermark, now_ms)
            deleted += more
    return deleted, start


def _below(log_start_offset: int) -> Predicate:
    def below(_segment: LogSegment, following: LogSegment | None) -> bool:
        return following is not None and following.base_offset <= log_start_offset

    return below


def _delete_matching(
    log: RetainedLog, start: int, predicate: Predicate, high_watermark: int | None, now_ms: int
) -> tuple[int, int]:
    """Delete the oldest segments while ``predicate`` holds; return how many went and the
    log start offset (``start``, or the new first segment's base if that is higher)."""
    local = log.local_log
    end = local.log_end_offset
    upper_bound = end if high_watermark is None else high_watermark
    segments = local.segments
    deletable: list[LogSegment] = []
    for i, segment in enumerate(segments):
        following = segments[i + 1] if i + 1 < len(segments) else None
        segment_end = following.base_offset if following is not None else end
        last_and_empty = following is None and segment.size_bytes == 0
        if upper_bound < segment_end or last_and_empty or not predicate(segment, following):
            break
        deletable.append(segment)
    if not deletable:
        return 0, start
    if len(deletable) == len(segments):
        log.roll(now_ms)  # keep an active segment, as Kafka does
    _remove_segments(log, deletable)
    new_start = local.segments[0].base_offset
    if new_start > start:
        start = _advance_log_start(log, new_start)
    return len(deletable), start


def _remove_segments(log: RetainedLog, segments: list[LogSegment]) -> None:
    local = log.local_log
    local.remove_segments(segments)
    first_kept = local.segments[0].base_offset
    state = log.producer_state

    def remove_files() -> None:
        for segment in segments:
            segment.delete()
        state.delete_snapshots_below(first_kept)

    log.defer_io(remove_files)


def _advance_log_start(log: RetainedLog, new_start: int) -> int:
    cache = log.leader_epoch_cache
    cache.truncate_from_start(new_start, flush=False)
    log.defer_io(cache.flush)
    return new_start


def increment_log_start_offset(
    log: RetainedLog, new_start: int, high_watermark: int | None, now_ms: int
) -> int | None:
    """DeleteRecords: the log start offset moves up to ``new_start`` (possibly mid-segment)
    and the segments wholly below it are deleted (file work queued). Returns the new log
    start offset, or None if it was already at or past ``new_start``."""
    bound = log.local_log.log_end_offset if high_watermark is None else high_watermark
    if new_start > bound:
        raise OffsetOutOfRangeError(
            f"cannot move the log start offset of {log.local_log.dir.name} to {new_start}, "
            f"past {bound}"
        )
    if new_start <= log.log_start_offset:
        return None
    _advance_log_start(log, new_start)
    _, start = _delete_matching(log, new_start, _below(new_start), high_watermark, now_ms)
    return start


def truncate_to(log: RetainedLog, target: int, now_ms: int) -> int:
    """Remove every offset >= ``target`` (Kafka's ``UnifiedLog.truncateTo``) when ``target``
    is below the log end and in or after the first segment; return the new log start."""
    local = log.local_log
    next_offset = local.truncate_to(target)
    start = min(log.log_start_offset, next_offset)
    log.leader_epoch_cache.truncate_from_end(next_offset)
    state = log.producer_state
    state.truncate_and_reload(start, next_offset, now_ms)
    if state.map_end_offset < next_offset:
        state.rebuild_from(local.iter_batch_headers(max(state.map_end_offset, start)))
    state.update_map_end_offset(next_offset)
    return start
