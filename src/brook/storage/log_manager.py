"""Kafka's ``LogManager``: every partition log in a broker's log directories.

It finds the partition directories at startup and opens them (with recovery after an
unclean shutdown), creates and deletes logs, keeps the per-directory checkpoints
(``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``) and the
``.kafka_cleanshutdown`` marker, and runs the one background task that applies the flush
policy (``flush.ms``, ``flush.messages``, plus the flush Kafka schedules after each roll),
retention, producer-id expiry and checkpointing for all partitions, and starts log-cleaner
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
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from brook.storage.checkpoint import (
    LOG_START_OFFSET_CHECKPOINT_FILENAME,
    RECOVERY_POINT_CHECKPOINT_FILENAME,
    OffsetCheckpointFile,
    atomic_write,
    fsync_dir,
)
from brook.storage.cleaner import CleanerConfig
from brook.storage.cleaner_manager import HighWatermarkSource, LogCleaner, LogCleanerManager
from brook.storage.log import Log
from brook.storage.log_config import LogConfig

__all__ = ["CLEAN_SHUTDOWN_FILE", "DELETE_DIR_SUFFIX", "LogManager", "parse_topic_partition"]

CLEAN_SHUTDOWN_FILE = ".kafka_cleanshutdown"
MIN_FLUSH_CHECK_MS = 10
"""The background task's shortest sleep, whatever ``flush.ms`` a log asks for."""
DELETE_DIR_SUFFIX = "-delete"
TopicPartition = tuple[str, int]


def parse_topic_partition(dir_name: str) -> TopicPartition:
    """Kafka's rule: the partition is after the LAST '-' (topics may contain '-')."""
    topic, dash, partition = dir_name.rpartition("-")
    if not dash or not topic or not partition.isdigit():
        raise ValueError(f"{dir_name!r} is not a <topic>-<partition> directory name")
    return topic, int(partition)


def _interval(defaults: Mapping[str, str], key: str, default: int) -> int:
    return int(defaults.get(key, default))


class LogManager:
    """All logs of one broker. See the module docstring for lifecycle and threading."""

    def __init__(
        self,
        log_dirs: list[Path],
        broker_defaults: Mapping[str, str],
        now_ms: Callable[[], int],
        *,
        high_watermark: HighWatermarkSource | None = None,
    ) -> None:
        """``high_watermark`` gives a partition's high watermark, past which the cleaner
        must not compact; without it cleaning may reach the log end (one replica)."""
        self.log_dirs = [Path(d) for d in log_dirs]
        self.broker_defaults = dict(broker_defaults)
        self.now_ms = now_ms
        self.default_config = LogConfig.from_props({}, self.broker_defaults)
        self._logs: dict[TopicPartition, Log] = {}
        self._pending_deletes: list[Path] = []
        self.retention_check_interval_ms = _interval(
            broker_defaults, "log.retention.check.interval.ms", 300_000
        )
        self.recovery_point_checkpoint_interval_ms = _interval(
            broker_defaults, "log.flush.offset.checkpoint.interval.ms", 60_000
        )
        self.log_start_checkpoint_interval_ms = _interval(
            broker_defaults, "log.flush.start.offset.checkpoint.interval.ms", 60_000
        )
        self.flush_check_interval_ms = max(
            min(_interval(broker_defaults, "log.flush.scheduler.interval.ms", 1_000), 1_000),
            MIN_FLUSH_CHECK_MS,
        )
        self.producer_id_expiration_ms = _interval(
            broker_defaults, "producer.id.expiration.ms", 86_400_000
        )
        self.producer_id_expiration_check_interval_ms = _interval(
            broker_defaults, "producer.id.expiration.check.interval.ms", 600_000
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

    # -- startup ------------------------------------------------------------------------------

    def startup(self, topic_configs: Mapping[str, LogConfig] | None = None) -> None:
        """Open every partition directory (recovering after an unclean shutdown).

        ``topic_configs`` gives per-topic settings known at startup; others get the broker
        defaults until ``Log.update_config``.
        """
        configs = topic_configs or {}
        now = self.now_ms()
        for log_dir in self.log_dirs:
            log_dir.mkdir(parents=True, exist_ok=True)
            marker = log_dir / CLEAN_SHUTDOWN_FILE
            clean = marker.exists()
            self.had_clean_shutdown[log_dir] = clean
            recovery_points = OffsetCheckpointFile(
                log_dir / RECOVERY_POINT_CHECKPOINT_FILENAME
            ).read()
            start_offsets = OffsetCheckpointFile(
                log_dir / LOG_START_OFFSET_CHECKPOINT_FILENAME
            ).read()
            self.cleaner_manager.load_checkpoints(log_dir)
            for entry in os.scandir(log_dir):
                if not entry.is_dir():
                    continue
                if entry.name.endswith(DELETE_DIR_SUFFIX):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    continue
                try:
                    tp = parse_topic_partition(entry.name)
                except ValueError:
                    continue
                self._logs[tp] = Log.open(
                    Path(entry.path),
                    configs.get(tp[0], self.default_config),
                    recovery_point=recovery_points.get(tp, 0),
                    log_start_offset=start_offsets.get(tp, 0),
                    clean_shutdown=clean,
                    now_ms=now,
                    producer_id_expiration_ms=self.producer_id_expiration_ms,
                )
            if clean:
                marker.unlink()
                fsync_dir(log_dir)

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
        log = Log.open(
            log_dir / f"{topic}-{partition}",
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
        """Release the log's descriptors and rename its directory
        ``<topic>-<partition>.<hex>-delete``; the rename is made durable and the files are
        removed in a worker thread by the background task (or at startup). Nothing is
        written or synced on the event loop: a log about to be removed needs no indexes or
        snapshot."""
        log = self._logs.pop((topic, partition), None)
        if log is None:
            return False
        log.close_handlers()
        target = log.dir.with_name(f"{log.dir.name}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}")
        os.replace(log.dir, target)
        self._pending_deletes.append(target)
        return True

    async def purge_deleted_logs(self) -> None:
        """Make the renames durable, then remove ``-delete`` directories, in a worker thread."""
        pending, self._pending_deletes = self._pending_deletes, []
        for path in pending:
            await asyncio.to_thread(_remove_deleted_dir, path)

    # -- checkpoints ----------------------------------------------------------------------------

    def _offsets_by_dir(self, pick: Callable[[Log], int]) -> dict[Path, dict[TopicPartition, int]]:
        by_dir: dict[Path, dict[TopicPartition, int]] = {d: {} for d in self.log_dirs}
        for tp, log in self._logs.items():
            by_dir.setdefault(log.dir.parent, {})[tp] = pick(log)
        return by_dir

    def checkpoint_recovery_points(self) -> None:
        """Write each directory's ``recovery-point-offset-checkpoint`` (blocking: fsyncs)."""
        for log_dir, offsets in self._offsets_by_dir(lambda log: log.recovery_point).items():
            OffsetCheckpointFile(log_dir / RECOVERY_POINT_CHECKPOINT_FILENAME).write(offsets)

    def checkpoint_log_start_offsets(self) -> None:
        """Write each directory's ``log-start-offset-checkpoint`` (blocking: fsyncs)."""
        for log_dir, offsets in self._offsets_by_dir(lambda log: log.log_start_offset).items():
            OffsetCheckpointFile(log_dir / LOG_START_OFFSET_CHECKPOINT_FILENAME).write(offsets)

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
        for log, up_to in due:
            try:
                log.flush(up_to, now_ms)
            except FileNotFoundError:
                if not log.closed:  # deleted while this flush ran: nothing left to flush
                    raise

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
            if self._pending_deletes:
                await self.purge_deleted_logs()
            try:
                await asyncio.wait_for(stop.wait(), self._next_flush_wait_ms / 1000)
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
        for log_dir in self.log_dirs:
            atomic_write(log_dir / CLEAN_SHUTDOWN_FILE, b"")


def _remove_deleted_dir(path: Path) -> None:
    """fsync the parent (so a crash cannot undo the rename and resurrect the log), then rmtree."""
    fsync_dir(path.parent)
    shutil.rmtree(path, True)
