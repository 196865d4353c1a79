"""Kafka's ``LogManager``: every partition log in a broker's log directories.

It finds the partition directories at startup and opens them (with recovery after an
unclean shutdown), creates and deletes logs, keeps the per-directory checkpoints
(``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``,
``replication-offset-checkpoint``, written by :mod:`brook.storage.log_checkpoints`) and the
``.kafka_cleanshutdown`` marker, and runs the one background task that applies the flush
policy (``flush.ms``, ``flush.messages``, plus the flush Kafka schedules after each roll),
retention, producer-id expiry and checkpointing for all partitions (the high watermarks
every ``replica.high.watermark.checkpoint.interval.ms``, as Kafka's ``ReplicaManager``
does: a restarted replica must not serve as committed what the other replicas may not
hold, so it starts from ``min(checkpointed high watermark, log end)``), and starts log-cleaner
passes for compacted logs (every ``log.cleaner.backoff.ms``, one pass at a time, as a child
task so that a long pass never delays flushes; see :mod:`brook.storage.cleaner_manager`).

Flush timing: the task wakes at least every ``log.flush.scheduler.interval.ms`` (at most 1 s),
sooner when a log's ``flush.ms`` is shorter (never more often than every
``MIN_FLUSH_CHECK_MS``), and sleeps until the earliest moment a dirty log's ``flush.ms``
runs out. The append path flushes too (see :mod:`brook.storage.log_flush`): before answering
when ``flush.messages`` is reached, at once after a roll, and when ``flush.ms`` has already
passed; the task skips a log whose flush is running.

Clean shutdown protocol (Kafka's): on shutdown every log is flushed and closed, the
checkpoints are written, and the marker is written last. Startup reads the marker, opens
the logs, then deletes the marker, so a crash at any later point is seen as unclean and the
logs are recovered from their checkpointed recovery points.

Lifecycle: ``startup()`` once, then ``run_background(stop)`` as one task in the broker's task
group, then ``await shutdown()``. Concurrency: all methods run on the event-loop thread;
fsyncs (flushes, checkpoint writes, removal of deleted logs) are sent to worker threads with
``asyncio.to_thread`` and never overlap for one log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from brook.config.broker import BROKER_CONFIGS
from brook.env.clock import SYSTEM_CLOCK, Clock
from brook.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT_FILENAME,
    RECOVERY_POINT_CHECKPOINT_FILENAME,
    REPLICATION_OFFSET_CHECKPOINT_FILENAME,
    OffsetCheckpointFile,
    atomic_write,
    fsync_dir,
)
from brook.storage.cleaner import CleanerConfig
from brook.storage.cleaner_manager import HighWatermarkSource, LogCleaner, LogCleanerManager
from brook.storage.errors import LogDirError
from brook.storage.log import Log
from brook.storage.log_checkpoints import LogDirCheckpoints, TopicPartition
from brook.storage.log_config import LogConfig
from brook.storage.log_dirs import (
    DELETE_DIR_SUFFIX,
    DirKind,
    HostedLog,
    classify,
    mtime_ns,
    parse_topic_partition,
    set_aside,
    set_aside_leftover,
    trusted_checkpoint_offsets,
    vet_partition_dir,
)

__all__ = [
    "CLEAN_SHUTDOWN_FILE",
    "DELETE_DIR_SUFFIX",
    "HostedLog",
    "LogManager",
    "parse_topic_partition",
]

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
MIN_FLUSH_CHECK_MS = 10
"""The background task's shortest sleep, whatever ``flush.ms`` a log asks for."""

log = logging.getLogger(__name__)


def _interval(defaults: Mapping[str, str], key: str) -> int:
    """A broker-level interval, with the default defined in ``brook.config.broker``."""
    return BROKER_CONFIGS.get_int(defaults, key)


class LogManager(LogDirCheckpoints):
    """All logs of one broker. See the module docstring for lifecycle and threading."""

    def __init__(
        self,
        log_dirs: list[Path],
        broker_defaults: Mapping[str, str],
        now_ms: Callable[[], int],
        *,
        high_watermark: HighWatermarkSource | None = None,
        timers: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``high_watermark`` gives a partition's high watermark (None: no partition is
        installed on the log), past which the cleaner must not compact and which the
        ``replication-offset-checkpoint`` records; without it cleaning may reach the log end
        (one replica) and the checkpoint keeps what it held at start-up.
        ``timers`` is the clock the background task waits on between rounds."""
        self.timers = timers
        self.log_dirs = [Path(d) for d in log_dirs]
        self.broker_defaults = dict(broker_defaults)
        self.now_ms = now_ms
        self.default_config = LogConfig.from_props({}, self.broker_defaults)
        self._logs: dict[TopicPartition, Log] = {}
        self._pending_deletes: list[Path] = []
        self.retention_check_interval_ms = _interval(
            broker_defaults, "log.retention.check.interval.ms"
        )
        self.recovery_point_checkpoint_interval_ms = _interval(
            broker_defaults, "log.flush.offset.checkpoint.interval.ms"
        )
        self.log_start_checkpoint_interval_ms = _interval(
            broker_defaults, "log.flush.start.offset.checkpoint.interval.ms"
        )
        self.high_watermark_checkpoint_interval_ms = _interval(
            broker_defaults, "replica.high.watermark.checkpoint.interval.ms"
        )
        self.flush_check_interval_ms = max(
            min(_interval(broker_defaults, "log.flush.scheduler.interval.ms"), 1_000),
            MIN_FLUSH_CHECK_MS,
        )
        self.producer_id_expiration_ms = _interval(broker_defaults, "producer.id.expiration.ms")
        self.producer_id_expiration_check_interval_ms = _interval(
            broker_defaults, "producer.id.expiration.check.interval.ms"
        )
        self._next_flush_wait_ms = self.flush_check_interval_ms
        self.had_clean_shutdown: dict[Path, bool] = {}
        self.high_watermark = high_watermark
        self.cleaner_config = CleanerConfig.from_props(self.broker_defaults)
        self.cleaner_manager = LogCleanerManager()
        self.cleaner = (
            LogCleaner(self.cleaner_config, self.cleaner_manager)
            if self.cleaner_config.enable
            else None
        )
        self._cleaning: asyncio.Task[bool] | None = None
        self._checkpoint_lock = threading.Lock()
        """Serialises checkpoint writes: a background write that took its snapshot before a
        deletion must not land after the deletion's own rewrite."""

    # -- startup ------------------------------------------------------------------------------

    def startup(
        self,
        hosted: Mapping[TopicPartition, HostedLog] | None = None,
        *,
        set_aside_unknown: bool = True,
    ) -> None:
        """Open every partition directory (recovering after an unclean shutdown).

        ``hosted`` is what the metadata says this broker hosts: each log opens with its
        topic's configuration from the start (before any retention or cleaner pass), and a
        directory the metadata does not know, or knows under another topic id, is renamed for
        deletion and never served. Without ``hosted`` (storage used on its own) every
        directory opens with the broker defaults. ``set_aside_unknown=False`` leaves unknown
        directories where they are, unopened. The metadata log's directory is never
        opened here: the Raft client owns it (as in Kafka).
        """
        now = self.now_ms()
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            self.had_clean_shutdown[log_dir] = clean
            recovery_file = OffsetCheckpointFile(log_dir / RECOVERY_POINT_CHECKPOINT_FILENAME)
            start_file = OffsetCheckpointFile(log_dir / LOG_START_OFFSET_CHECKPOINT_FILENAME)
            recovery_points = recovery_file.read()
            start_offsets = start_file.read()
            # Strict: a high watermark guessed as 0 or dropped would hide the damage.
            high_watermarks = OffsetCheckpointFile(
                log_dir / REPLICATION_OFFSET_CHECKPOINT_FILENAME, lenient=False).read()
            checkpoint_mtimes = (mtime_ns(recovery_file.path), mtime_ns(start_file.path))
            self.cleaner_manager.load_checkpoints(log_dir)
            for entry in sorted(os.scandir(log_dir), key=lambda e: e.name):
                if not entry.is_dir():
                    continue
                kind, tp = classify(entry.name)
                if kind is DirKind.DELETED:
                    self._pending_deletes.append(Path(entry.path))
                    continue
                if kind is not DirKind.PARTITION or tp is None:
                    continue
                path = Path(entry.path)
                config = self.default_config
                topic_id = None
                if hosted is not None:
                    expected = hosted.get(tp)
                    if expected is None and not set_aside_unknown:
                        continue
                    kept, target = vet_partition_dir(path, tp, expected)
                    if target is not None:
                        self._pending_deletes.append(target)
                    if not kept:
                        continue
                    assert expected is not None
                    config, topic_id = expected
                if tp in self._logs:
                    # Kafka refuses to start too: which copy holds the acknowledged records is
                    # for the operator to decide, not for the order of a directory scan.
                    raise LogDirError(
                        f"duplicate log directories for {tp[0]}-{tp[1]}: {self._logs[tp].dir} "
                        f"and {path}; move one out of the log directories"
                    )
                recovery, start, suspect = trusted_checkpoint_offsets(
                    path, tp, recovery_points, start_offsets, checkpoint_mtimes
                )
                plog = self._logs[tp] = Log.open(
                    path,
                    config,
                    recovery_point=recovery,
                    log_start_offset=start,
                    clean_shutdown=clean,
                    now_ms=now,
                    topic_id=topic_id,
                    producer_id_expiration_ms=self.producer_id_expiration_ms,
                )
                if suspect:
                    self._apply_suspect_log_start(plog, suspect)
                # After kill -9 the log may end below what the checkpoint recorded.
                plog.checkpointed_high_watermark = min(
                    high_watermarks.get(tp, 0), plog.log_end_offset)
            if clean:
                marker.unlink()
                fsync_dir(log_dir)
        # Entries of logs that no longer exist go now, not at the first periodic write: a
        # topic re-created later must never inherit its predecessor's offsets.
        self.checkpoint_recovery_points()
        self.checkpoint_log_start_offsets()
        self.checkpoint_high_watermarks()
        live = list(self._logs)
        for log_dir in self.log_dirs:
            self.cleaner_manager.write_checkpoint(log_dir, live)

    @staticmethod
    def _apply_suspect_log_start(plog: Log, start: int) -> None:
        """A checkpointed log start offset older than the log's ``partition.metadata``: kept
        when it lies within the log (records below it were deleted and must stay so), ignored
        when it lies past the log's end (an earlier topic's, which would empty this log)."""
        if start > plog.log_end_offset:
            log.warning("ignoring a log start offset %d of %s past its end %d (an earlier "
                        "topic's)", start, plog.dir.name, plog.log_end_offset)
            return
        log.warning("keeping the log start offset %d of %s although its checkpoint is older "
                    "than the log (copied or clock stepped back?)", start, plog.dir.name)
        plog.maybe_increment_log_start_offset(start)

    # -- logs ---------------------------------------------------------------------------------

    def get_log(self, topic: str, partition: int) -> Log | None:
        return self._logs.get((topic, partition))

    def all_logs(self) -> list[tuple[TopicPartition, Log]]:
        return list(self._logs.items())

    def get_or_create_log(
        self,
        topic: str,
        partition: int,
        config: LogConfig | None = None,
        topic_id: bytes | None = None,
    ) -> Log:
        """The partition's log, created in the directory holding the fewest logs if new."""
        existing = self._logs.get((topic, partition))
        if existing is not None:
            return existing
        return self.register_log(topic, partition, self.open_new_log(topic, partition, config, topic_id))

    def open_new_log(
        self, topic: str, partition: int, config: LogConfig | None = None,
        topic_id: bytes | None = None,
    ) -> Log:
        """Create (or open) a partition's log without registering it: safe on a worker thread,
        as it touches only that partition's directory. ``register_log`` then publishes it on
        the event-loop thread."""
        log_dir = self.log_dirs[0]
        if len(self.log_dirs) > 1:
            counts = {d: 0 for d in self.log_dirs}
            for existing in list(self._logs.values()):
                if existing.dir.parent in counts:
                    counts[existing.dir.parent] += 1
            log_dir = min(self.log_dirs, key=lambda d: counts[d])
        directory = log_dir / f"{topic}-{partition}"
        if topic_id is not None and directory.exists():
            target = set_aside_leftover(directory, topic, partition, topic_id)
            if target is not None:
                self._pending_deletes.append(target)
        log = Log.open(
            directory,
            config or self.default_config,
            recovery_point=0,
            log_start_offset=0,
            clean_shutdown=True,
            now_ms=self.now_ms(),
            topic_id=topic_id,
            producer_id_expiration_ms=self.producer_id_expiration_ms,
        )
        fsync_dir(log_dir)
        return log

    def register_log(self, topic: str, partition: int, log: Log) -> Log:
        """Publish a log made by ``open_new_log``; the first registered wins."""
        existing = self._logs.setdefault((topic, partition), log)
        if existing is not log:
            log.close()
        return existing

    def delete_log(self, topic: str, partition: int) -> bool:
        """Delete one log (see ``delete_logs``)."""
        return bool(self.delete_logs([(topic, partition)]))

    def delete_logs(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """Delete logs now, on the calling thread: ``detach_logs`` then ``finish_deletion``."""
        detached = self.detach_logs(partitions)
        self.finish_deletion(detached)
        return [tp for tp, _ in detached]

    async def delete_logs_async(self, partitions: Iterable[TopicPartition]) -> None:
        """``delete_logs`` for a serving broker: the logs leave the registry on the loop (no
        new reader can find them), and the file work (renames, directory fsyncs, checkpoint
        rewrites) runs in a worker thread. The caller awaits it before the metadata change
        counts as applied, so a topic re-created under the same name cannot race it."""
        detached = self.detach_logs(partitions)
        if detached:
            await asyncio.to_thread(self.finish_deletion, detached)

    def detach_logs(self, partitions: Iterable[TopicPartition]) -> list[tuple[TopicPartition, Log]]:
        """Take logs out of the registry (event-loop thread; no file I/O)."""
        detached = []
        for tp in partitions:
            plog = self._logs.pop(tp, None)
            if plog is not None:
                detached.append((tp, plog))
        return detached

    def finish_deletion(self, detached: list[tuple[TopicPartition, Log]]) -> None:
        """Close detached logs and rename their directories
        ``<topic prefix>-<partition>.<uuid>-delete`` (Kafka's name, cut to fit a file name);
        the files are removed later by the background task (or at startup). The checkpoints
        of the affected log directories are rewritten before this returns, so a topic
        re-created under the same name never inherits the deleted one's recovery point or log
        start offset, even after a crash. Blocking: fsyncs."""
        dirs: set[Path] = set()
        renamed: list[Path] = []
        for tp, plog in detached:
            plog.close_handlers()  # a log about to be removed needs no indexes or snapshot
            dirs.add(plog.dir.parent)
            try:
                renamed.append(set_aside(plog.dir, tp[0], tp[1], durable=False))
            except OSError as exc:
                # The deletion is committed; the next start-up removes the directory (its
                # topic is gone from the metadata) and a re-created topic never adopts it.
                log.error("could not rename %s for deletion: %s", plog.dir, exc)
        for log_dir in dirs:
            fsync_dir(log_dir)
        if dirs:
            self._write_checkpoints(dirs)
        self._pending_deletes.extend(renamed)  # list.append is atomic: safe from a thread

    async def purge_deleted_logs(self) -> None:
        """Make the renames durable, then remove ``-delete`` directories, in a worker thread."""
        pending, self._pending_deletes = self._pending_deletes, []
        for path in pending:
            await asyncio.to_thread(_remove_deleted_dir, path)

    # -- checkpoints ----------------------------------------------------------------------------

    def _write_checkpoints(self, dirs: Iterable[Path]) -> None:
        """Rewrite every checkpoint of ``dirs`` from the live logs (after a deletion)."""
        dirs = list(dirs)
        self.checkpoint_recovery_points(dirs)
        self.checkpoint_log_start_offsets(dirs)
        self.checkpoint_high_watermarks(dirs)
        live = list(self._logs)
        for log_dir in dirs:
            self.cleaner_manager.write_checkpoint(log_dir, live)

    # -- background work ----------------------------------------------------------------------

    def logs_to_flush(self, now_ms: int) -> list[tuple[Log, int]]:
        """(log, up_to) pairs due for a flush: after a roll, by ``flush.messages``, by
        ``flush.ms``; logs whose own flush is running are left to it. Also sets how long
        the background task may sleep before a ``flush.ms`` runs out."""
        due = []
        tick = self.flush_check_interval_ms
        wait = tick
        for log in self._logs.values():
            if log.flusher.busy:
                continue
            flush_ms = log.config.flush_ms
            if flush_ms < tick:
                tick = max(flush_ms, MIN_FLUSH_CHECK_MS)
            unflushed = log.unflushed_messages
            if log.pending_flush_offset is not None:
                due.append((log, log.pending_flush_offset))
            elif unflushed >= log.config.flush_messages or (
                unflushed > 0 and now_ms - log.last_flush_ms >= flush_ms
            ):
                due.append((log, log.log_end_offset))
            elif unflushed > 0 and flush_ms < wait:
                wait = min(wait, log.last_flush_ms + flush_ms - now_ms)
        self._next_flush_wait_ms = max(min(tick, wait), MIN_FLUSH_CHECK_MS)
        return due

    def remove_expired_producers(self, now_ms: int) -> int:
        """Kafka's periodic producer expiry over every log; returns producers removed."""
        removed = 0
        for log in self._logs.values():
            removed += len(log.remove_expired_producers(now_ms, self.producer_id_expiration_ms))
        return removed

    async def apply_retention(self, now_ms: int) -> int:
        """One retention pass: segment lists change here, files go in a worker thread."""
        deleted = 0
        for _, log in self.all_logs():
            deleted += log.delete_old_segments(now_ms, defer_io=True)
        dirty = [log for _, log in self.all_logs() if log.has_deferred_io]
        if dirty:
            await asyncio.to_thread(self._run_deferred_io, dirty)
        return deleted

    @staticmethod
    def _run_deferred_io(logs: list[Log]) -> None:
        for log in logs:
            log.run_deferred_io()

    @staticmethod
    def _flush_all(due: list[tuple[Log, int]], now_ms: int) -> None:
        for plog, up_to in due:
            try:
                plog.flush(up_to, now_ms)
            except OSError as exc:
                if plog.closed:
                    continue  # deleted while this flush ran: nothing left to flush
                # A failed fsync stops this log for good (see ``LogFlusher.failed``); the other
                # logs and the background task carry on.
                log.error("flush of %s failed; the log takes no more appends", plog.dir,
                          exc_info=exc)
                plog.flusher.failed = exc

    def maybe_start_cleaning(self, now_ms: int) -> None:
        """Start a cleaner pass unless one is running (the background task calls this when
        ``log.cleaner.backoff.ms`` has passed, or right after a pass that did work)."""
        if self.cleaner is None or (self._cleaning is not None and not self._cleaning.done()):
            return
        self._cleaning = asyncio.create_task(
            self.cleaner.clean_filthiest_log(self.all_logs(), now_ms, self.high_watermark),
            name="log-cleaner",
        )

    async def _stop_cleaning(self) -> None:
        """Abort a running pass (its thread stops at the next batch and removes its output);
        its outcome no longer matters, so errors are not raised here."""
        task, self._cleaning = self._cleaning, None
        if self.cleaner is not None:
            self.cleaner.shutdown()
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    async def run_background(self, stop: asyncio.Event) -> None:
        """The one periodic task: flush policy, retention, checkpoints, deleted-log removal,
        and starting log-cleaner passes."""
        try:
            await self._run_background(stop)
        finally:
            await self._stop_cleaning()

    async def _run_background(self, stop: asyncio.Event) -> None:
        now = self.now_ms()
        next_retention = now + self.retention_check_interval_ms
        next_recovery_checkpoint = now + self.recovery_point_checkpoint_interval_ms
        next_start_checkpoint = now + self.log_start_checkpoint_interval_ms
        next_hw_checkpoint = now + self.high_watermark_checkpoint_interval_ms
        next_producer_expiry = now + self.producer_id_expiration_check_interval_ms
        next_cleaning = now
        while not stop.is_set():
            now = self.now_ms()
            cleaning = self._cleaning
            if cleaning is not None and cleaning.done():
                self._cleaning = None
                did_work = not cleaning.cancelled() and cleaning.result()
                next_cleaning = now if did_work else now + self.cleaner_config.backoff_ms
            if now >= next_cleaning:
                self.maybe_start_cleaning(now)
                next_cleaning = now + self.cleaner_config.backoff_ms
            due = self.logs_to_flush(now)
            if due:
                await asyncio.to_thread(self._flush_all, due, now)
            if now >= next_retention:
                next_retention = now + self.retention_check_interval_ms
                await self.apply_retention(now)
            if now >= next_producer_expiry:
                next_producer_expiry = now + self.producer_id_expiration_check_interval_ms
                self.remove_expired_producers(now)
            if now >= next_recovery_checkpoint:
                next_recovery_checkpoint = now + self.recovery_point_checkpoint_interval_ms
                await asyncio.to_thread(self.checkpoint_recovery_points)
            if now >= next_start_checkpoint:
                next_start_checkpoint = now + self.log_start_checkpoint_interval_ms
                await asyncio.to_thread(self.checkpoint_log_start_offsets)
            if now >= next_hw_checkpoint:
                next_hw_checkpoint = now + self.high_watermark_checkpoint_interval_ms
                await asyncio.to_thread(self.checkpoint_high_watermarks)
            if self._pending_deletes:
                await self.purge_deleted_logs()
            try:
                await self.timers.wait_for(stop.wait(), self._next_flush_wait_ms / 1000)
            except TimeoutError:
                pass

    async def shutdown(self) -> None:
        """Flush and close every log, write the checkpoints, then the clean-shutdown marker."""
        await self._stop_cleaning()
        await asyncio.to_thread(self._shutdown_sync)
        await self.purge_deleted_logs()

    def _shutdown_sync(self) -> None:
        """Flush and close every log. Each log's fsyncs (segment, snapshot) are independent of
        the others', so they run on a few threads: with thousands of partitions the disk's
        flush latency overlaps instead of adding up."""
        now = self.now_ms()

        def finish(log: Log) -> None:
            log.flush(None, now)
            log.close()

        logs = list(self._logs.values())
        if len(logs) < 64:
            for log in logs:
                finish(log)
        else:
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="log-close") as pool:
                for _ in pool.map(finish, logs):
                    pass
        self.checkpoint_recovery_points()
        self.checkpoint_log_start_offsets()
        self.checkpoint_high_watermarks()
        for log_dir in self.log_dirs:
            atomic_write(log_dir / CLEAN_SHUTDOWN_FILE, b"")


def _remove_deleted_dir(path: Path) -> None:
    """fsync the parent (so a crash cannot undo the rename and resurrect the log), then rmtree."""
    fsync_dir(path.parent)
    shutil.rmtree(path, True)
