"""Kafka's ``LogLoader``: read a partition directory into a :class:`LoadedLog`, from which
:meth:`brook.storage.log.Log.open` builds the log.

Steps, in Kafka's order:

1. Finish a log-cleaner swap a crash interrupted: a ``.log.swap`` file replaces the old
   segments it covers and its indexes are rebuilt (see
   :func:`brook.storage.cleaner_swap.complete_interrupted_swaps`). Then remove leftovers of
   interrupted operations: ``.deleted``, ``.cleaned``, ``.swap`` and ``.trunc`` files, and
   index files whose ``.log`` is gone.
2. Make a segment object per ``.log`` file. Nothing is read yet: indexes load lazily.
3. After an unclean shutdown, recover every segment from the one holding the recovery
   point: rebuild its indexes by scanning and CRC-checking each batch, truncate at the first
   bad or torn batch, and delete the segments after a truncated one (their offsets would no
   longer follow). Leader epochs seen in those batches go into the epoch cache. After a
   clean shutdown only the active segment's indexes are sanity-checked (and rebuilt if
   they fail); the other segments were flushed before the shutdown marker was written.
4. Find the log end offset: the active segment's last index entry plus a short scan.
5. Producer state: the newest snapshot at or below the log end, without the producers that
   expired (``producer.id.expiration.ms``) meanwhile, then replay of the batch headers after
   it (none after a clean shutdown, which snapshots at the end).
6. Trim the leader epoch cache to [log start, log end) and check ``partition.metadata``.

So a clean start costs a directory listing, a few small file reads and one short scan per
partition, whatever the log's size.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from brook.records.batch import BatchHeader
from brook.storage.abstract_index import IndexCorruptError
from brook.storage.checkpoint import LeaderEpochCheckpointFile, atomic_write
from brook.storage.cleaner_swap import complete_interrupted_swaps
from brook.storage.errors import StorageError
from brook.storage.leader_epoch import LeaderEpochFileCache
from brook.storage.local_log import iter_batch_headers, new_segment
from brook.storage.log_config import LogConfig
from brook.storage.log_segments import LogSegments
from brook.storage.producer_state import ProducerStateManager
from brook.storage.segment import LOG_FILE_SUFFIX, BatchCallback

__all__ = ["PARTITION_METADATA_FILE", "LoadedLog", "load_log", "read_partition_metadata"]

PARTITION_METADATA_FILE = "partition.metadata"
_STRAY_SUFFIXES = (".deleted", ".cleaned", ".swap", ".trunc")
_INDEX_SUFFIXES = (".index", ".timeindex", ".txnindex")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoadedLog:
    """What loading found (Kafka's ``LoadedLogOffsets`` with the state loaded beside it):
    the log is built from this, and nothing else of it exists yet."""

    segments: LogSegments
    log_start_offset: int
    recovery_point: int
    next_offset: int
    dir_dirty: bool
    """Segments were recovered or created whose directory entries may never have been
    synced: the first flush syncs the directory too."""
    recovered_segments: int
    """Segments whose indexes were rebuilt from their batches (unclean shutdown, a
    corrupt active index, or a completed swap)."""
    leader_epoch_cache: LeaderEpochFileCache
    producer_state: ProducerStateManager
    topic_id: bytes | None


def load_log(
    directory: Path,
    config: LogConfig,
    *,
    recovery_point: int,
    log_start_offset: int,
    clean_shutdown: bool,
    now_ms: int,
    topic_id: bytes | None,
    producer_id_expiration_ms: int | None = None,
) -> LoadedLog:
    """Load ``directory`` (see the module docstring for the steps)."""
    directory.mkdir(parents=True, exist_ok=True)
    stored_topic_id = _check_partition_metadata(directory, topic_id)
    swapped = complete_interrupted_swaps(directory)
    bases = _clean_directory(directory)
    cache = LeaderEpochFileCache(LeaderEpochCheckpointFile.in_dir(directory))
    producer_state = ProducerStateManager(directory)
    segments = LogSegments()
    dir_dirty = False
    recovered = 0
    for base in bases:
        segments.add(new_segment(directory, config, base, now_ms))
    for base in swapped:
        swapped_segment = segments.get(base)
        if swapped_segment is not None:
            swapped_segment.recover()
            swapped_segment.flush()
            recovered += 1
    if segments and not clean_shutdown:
        recovered += _recover_unflushed(segments, recovery_point, cache)
        # Segments made or rewritten before the crash may have directory entries that were
        # never synced: the first flush after recovery syncs the directory too.
        dir_dirty = True
    elif segments:
        active = segments.last
        try:
            active.sanity_check()
        except IndexCorruptError:
            active.recover(_epoch_recorder(cache))
            recovered += 1
    if not segments:
        segments.add(new_segment(directory, config, max(0, log_start_offset), now_ms))
        dir_dirty = True  # the first append creates its file: the next flush syncs the dir
    next_offset = segments.last.read_next_offset()
    if next_offset < log_start_offset:
        # The checkpointed start is past everything on disk (records deleted, then a crash
        # before the segments went): start empty there, as Kafka does.
        for segment in segments.values():
            segments.remove(segment.base_offset).delete()
        segments.add(new_segment(directory, config, log_start_offset, now_ms))
        next_offset = log_start_offset
        producer_state.truncate_fully_and_start_at(log_start_offset)
        cache.clear()
    start = max(log_start_offset, segments.first.base_offset)
    cache.truncate_from_end(next_offset)
    cache.truncate_from_start(start)
    _rebuild_producer_state(
        segments, producer_state, start, next_offset, now_ms, producer_id_expiration_ms
    )
    return LoadedLog(
        segments=segments,
        log_start_offset=start,
        recovery_point=(
            next_offset if clean_shutdown else min(max(recovery_point, 0), next_offset)
        ),
        next_offset=next_offset,
        dir_dirty=dir_dirty,
        recovered_segments=recovered,
        leader_epoch_cache=cache,
        producer_state=producer_state,
        topic_id=stored_topic_id,
    )


def _epoch_recorder(cache: LeaderEpochFileCache) -> BatchCallback:
    def record(view: memoryview, pos: int, header: BatchHeader) -> None:
        if header.partition_leader_epoch >= 0:
            cache.assign(header.partition_leader_epoch, header.base_offset)

    return record


def _recover_unflushed(
    segments: LogSegments, recovery_point: int, cache: LeaderEpochFileCache
) -> int:
    """Recover from the segment holding the recovery point; return segments recovered."""
    unflushed = segments.values_from(max(recovery_point, segments.first.base_offset))
    on_batch = _epoch_recorder(cache)
    for i, segment in enumerate(unflushed):
        truncated = segment.recover(on_batch)
        if truncated > 0:
            for later in unflushed[i + 1 :]:
                segments.remove(later.base_offset).delete()
            return i + 1
    return len(unflushed)


def _rebuild_producer_state(
    segments: LogSegments,
    producer_state: ProducerStateManager,
    log_start_offset: int,
    end: int,
    now_ms: int,
    expiration_ms: int | None,
) -> None:
    producer_state.truncate_and_reload(log_start_offset, end, now_ms, expiration_ms)
    if producer_state.map_end_offset < end:
        start = max(producer_state.map_end_offset, log_start_offset)
        producer_state.rebuild_from(iter_batch_headers(segments, start))
    producer_state.update_map_end_offset(end)


def _clean_directory(directory: Path) -> list[int]:
    """Delete leftovers; return the base offsets of the ``.log`` files, sorted."""
    names = os.listdir(directory)
    logs = set()
    for name in names:
        if name.endswith(_STRAY_SUFFIXES):
            (directory / name).unlink(missing_ok=True)
        elif name.endswith(LOG_FILE_SUFFIX) and name[:-4].isdigit():
            logs.add(name[:-4])
    for name in names:
        stem, dot, suffix = name.partition(".")
        if dot and "." + suffix in _INDEX_SUFFIXES and stem.isdigit() and stem not in logs:
            (directory / name).unlink(missing_ok=True)
    return sorted(int(stem) for stem in logs)


def read_partition_metadata(directory: Path) -> bytes | None:
    """The topic id stored in ``partition.metadata``, or None if the file is absent."""
    try:
        text = (directory / PARTITION_METADATA_FILE).read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    if fields.get("version") != "0" or "topic_id" not in fields:
        # A file from a version that wrote it without fsync can be empty or partial after a
        # crash: treat it as absent.
        log.warning("ignoring malformed %s in %s", PARTITION_METADATA_FILE, directory)
        return None
    encoded = fields["topic_id"].strip()
    try:
        topic_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        topic_id = b""
    if len(topic_id) != 16:
        log.warning("ignoring malformed %s in %s", PARTITION_METADATA_FILE, directory)
        return None
    return topic_id


def _check_partition_metadata(directory: Path, topic_id: bytes | None) -> bytes | None:
    stored = read_partition_metadata(directory)
    if topic_id is None:
        return stored
    if stored is not None and stored != topic_id:
        raise StorageError(
            f"topic id {_encode(topic_id)} does not match {_encode(stored)} in {directory}"
        )
    if stored is None:
        # Durable before the log takes its first record (as Kafka flushes it): at start-up a
        # directory is matched to its topic by this id, and one without it is not served.
        text = f"version: 0\ntopic_id: {_encode(topic_id)}\n"
        atomic_write(directory / PARTITION_METADATA_FILE, text.encode("utf-8"))
    return topic_id


def _encode(topic_id: bytes) -> str:
    """Kafka's ``Uuid.toString``: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(topic_id).decode("ascii").rstrip("=")
