"""The parts of :class:`brook.storage.log.Log` that remove data: retention, DeleteRecords and
truncation. They are functions over a ``Log`` (and touch its private state) only to keep
``log.py`` readable; ``Log`` exposes each one as a method and nothing else calls them.

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
from typing import TYPE_CHECKING

from brook.storage.errors import OffsetOutOfRangeError
from brook.storage.segment import LogSegment

if TYPE_CHECKING:
    from brook.storage.log import Log

__all__ = [
    "delete_old_segments",
    "maybe_increment_log_start_offset",
    "truncate_fully_and_start_at",
    "truncate_to",
]

Predicate = Callable[[LogSegment, "LogSegment | None"], bool]


def delete_old_segments(
    log: Log, now_ms: int, high_watermark: int | None, defer_io: bool = False
) -> int:
    """Apply retention; return how many segments were deleted."""
    deleted = _delete_old_segments(log, now_ms, high_watermark)
    if not defer_io:
        log.run_deferred_io()
    return deleted


def _delete_old_segments(log: Log, now_ms: int, high_watermark: int | None) -> int:
    config = log.config
    deleted = _delete_matching(log, _below_log_start(log), high_watermark, now_ms)
    if not config.delete:
        return deleted
    if config.retention_ms >= 0:
        retention_ms = config.retention_ms

        def expired(segment: LogSegment, _next: LogSegment | None) -> bool:
            return now_ms - segment.largest_timestamp > retention_ms

        deleted += _delete_matching(log, expired, high_watermark, now_ms)
    if config.retention_bytes >= 0:
        excess = [log.size_bytes - config.retention_bytes]

        def over_size(segment: LogSegment, _next: LogSegment | None) -> bool:
            if excess[0] - segment.size_bytes >= 0:
                excess[0] -= segment.size_bytes
                return True
            return False

        if excess[0] > 0:
            deleted += _delete_matching(log, over_size, high_watermark, now_ms)
    return deleted


def _below_log_start(log: Log) -> Predicate:
    def below(_segment: LogSegment, following: LogSegment | None) -> bool:
        return following is not None and following.base_offset <= log.log_start_offset

    return below


def _delete_matching(
    log: Log, predicate: Predicate, high_watermark: int | None, now_ms: int
) -> int:
    upper_bound = log.log_end_offset if high_watermark is None else high_watermark
    segments = log.segments
    deletable: list[LogSegment] = []
    for i, segment in enumerate(segments):
        following = segments[i + 1] if i + 1 < len(segments) else None
        end = following.base_offset if following is not None else log.log_end_offset
        last_and_empty = following is None and segment.size_bytes == 0
        if upper_bound < end or last_and_empty or not predicate(segment, following):
            break
        deletable.append(segment)
    if not deletable:
        return 0
    if len(deletable) == len(segments):
        log.roll(now_ms)  # keep an active segment, as Kafka does
    _remove_segments(log, deletable)
    new_start = log.segments[0].base_offset
    if new_start > log.log_start_offset:
        _advance_log_start(log, new_start)
    return len(deletable)


def _remove_segments(log: Log, segments: list[LogSegment]) -> None:
    with log._lock:
        for segment in segments:
            log._segments.remove(segment.base_offset)
        log._dir_dirty = True
    first_kept = log.segments[0].base_offset
    state = log.producer_state

    def remove_files() -> None:
        for segment in segments:
            segment.delete()
        state.delete_snapshots_below(first_kept)

    log.defer_io(remove_files)


def _advance_log_start(log: Log, new_start: int) -> None:
    log._log_start_offset = new_start
    cache = log.leader_epoch_cache
    cache.truncate_from_start(new_start, flush=False)
    log.defer_io(cache.flush)


def maybe_increment_log_start_offset(
    log: Log, new_start: int, high_watermark: int | None, defer_io: bool = False
) -> bool:
    """DeleteRecords: move the log start offset up (possibly mid-segment) and delete the
    segments wholly below it. Returns False if it was already at or past ``new_start``."""
    bound = log.log_end_offset if high_watermark is None else high_watermark
    if new_start > bound:
        raise OffsetOutOfRangeError(
            f"cannot move the log start offset of {log.dir.name} to {new_start}, past {bound}"
        )
    if new_start <= log.log_start_offset:
        return False
    _advance_log_start(log, new_start)
    _delete_matching(log, _below_log_start(log), high_watermark, log._clock_ms)
    if not defer_io:
        log.run_deferred_io()
    return True


def truncate_to(log: Log, target: int) -> bool:
    """Remove every offset >= ``target`` (Kafka's ``UnifiedLog.truncateTo``).

    Returns False when the log already ends at or before ``target``.
    """
    if target < 0:
        raise ValueError(f"cannot truncate to negative offset {target}")
    if target >= log.log_end_offset:
        return False
    log.run_deferred_io()
    if log.segments[0].base_offset > target:
        truncate_fully_and_start_at(log, target, log._clock_ms)
        return True
    with log._lock:
        removed = [
            log._segments.remove(s.base_offset) for s in log.segments if s.base_offset > target
        ]
        log._dir_dirty = True
    for segment in reversed(removed):
        segment.delete()
    active = log.active_segment
    active.truncate_to(target)
    next_offset = active.read_next_offset()
    with log._lock:
        log._next_offset = next_offset
        log._recovery_point = min(log._recovery_point, next_offset)
    log._log_start_offset = min(log._log_start_offset, next_offset)
    log.leader_epoch_cache.truncate_from_end(next_offset)
    state = log.producer_state
    state.truncate_and_reload(log.log_start_offset, next_offset, log._clock_ms)
    if state.map_end_offset < next_offset:
        state.rebuild_from(log.iter_batch_headers(max(state.map_end_offset, log.log_start_offset)))
    state.update_map_end_offset(next_offset)
    return True


def truncate_fully_and_start_at(log: Log, offset: int, now_ms: int) -> None:
    """Delete everything and restart the log, empty, at ``offset``."""
    log.run_deferred_io()
    with log._lock:
        removed = log.segments
        for segment in removed:
            log._segments.remove(segment.base_offset)
    for segment in removed:
        segment.delete()
    with log._lock:
        log._segments.add(log.new_segment(offset, now_ms))
        log._next_offset = offset
        log._recovery_point = offset
        log._dir_dirty = True
    log._log_start_offset = offset
    log.pending_flush_offset = None
    log.leader_epoch_cache.clear()
    log.producer_state.truncate_fully_and_start_at(offset)
