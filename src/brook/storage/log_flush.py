"""Flushing one log from the event loop without blocking it: Kafka's flush in the append path.

Kafka's ``UnifiedLog.append`` calls ``flush`` itself once the unflushed message count reaches
``flush.messages``, on the request thread, before the produce is answered. brook's appends run
on the event loop, where an fsync would stall every connection, so the fsync runs in a worker
thread and the append's caller awaits a future that resolves once the log's recovery point
(everything below it fsynced) covers what was appended.

:class:`LogFlusher` is one log's group commit. Requests made while an fsync is running are
collected and served by the next one, which flushes up to the log end as it is when that fsync
starts; so concurrent producers to a partition with ``flush.messages=1`` share fsyncs instead
of queueing one each, and at most one fsync per log runs at a time.

The same flusher serves the flushes that need no waiter (after a roll, when ``flush.ms`` has
passed): ``request_background`` starts them at once.

While an append waits for its fsync, the records it wrote are not committed, however many
replicas hold them: :attr:`LogFlusher.high_watermark_limit` is the recovery point then, and
the partition's high watermark never passes it (whether the append or a follower's fetch
moves it). Kafka gets this for free by flushing inside the append.

Event-loop thread only (``Log.flush`` itself runs in the worker thread).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

__all__ = ["FlushedLog", "LogFlusher"]

log = logging.getLogger(__name__)


class FlushedLog(Protocol):
    """What the flusher needs of a log (``Log`` is one)."""

    @property
    def dir(self) -> Path: ...
    @property
    def recovery_point(self) -> int: ...
    @property
    def log_end_offset(self) -> int: ...
    @property
    def has_unflushed_files(self) -> bool: ...
    def flush(self, up_to: int | None = None, now_ms: int | None = None) -> None: ...


class LogFlusher:
    """Group commit of one log's fsyncs. ``request(up_to)`` -> a future set once
    ``recovery_point >= up_to`` (or with the flush's exception)."""

    __slots__ = ("_held", "_log", "_now_ms", "_task", "_waiters", "failed")

    def __init__(self, log: FlushedLog) -> None:
        self._log = log
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None], bool]] = []
        self._held = 0
        """Waiters whose records the high watermark must not pass before their fsync."""
        self._now_ms = 0
        self.failed: BaseException | None = None
        """The first flush failure, kept for good: after a failed fsync the kernel may have
        dropped the dirty pages and marked them clean, so a later fsync that succeeds proves
        nothing about the records the failed one covered. The log takes no more appends
        and never advances its recovery point or high watermark past them."""

    @property
    def busy(self) -> bool:
        """A flush is running or about to run (the background scheduler skips this log)."""
        return self._task is not None

    @property
    def high_watermark_limit(self) -> int | None:
        """The offset the high watermark may not pass (the recovery point) while an append's
        records wait for their fsync, or for good once a flush failed; None otherwise."""
        if self._held or self.failed is not None:
            return self._log.recovery_point
        return None

    def request(self, up_to: int, now_ms: int, *, hold: bool = True) -> asyncio.Future[None]:
        """Flush at least up to ``up_to`` (exclusive) as soon as possible. ``hold``: the
        records below ``up_to`` are not committed before then (``high_watermark_limit``)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self.failed is not None:
            fut.set_exception(self.failed)
            return fut
        plog = self._log
        if plog.recovery_point >= up_to and not plog.has_unflushed_files:
            fut.set_result(None)
            return fut
        self._waiters.append((up_to, fut, hold))
        if hold:
            self._held += 1
        self._now_ms = max(self._now_ms, now_ms)
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"flush-{plog.dir.name}")
        return fut

    def request_background(self, up_to: int, now_ms: int) -> None:
        """Like ``request`` for a flush nobody waits for: failures are logged, not raised."""
        self.request(up_to, now_ms, hold=False).add_done_callback(_log_failure)

    async def _run(self) -> None:
        plog = self._log
        try:
            while self._waiters:
                target = min(max(w[0] for w in self._waiters), plog.log_end_offset)
                try:
                    await asyncio.to_thread(plog.flush, target, self._now_ms)
                except Exception as exc:  # the log directory failed (or the log was deleted)
                    self.failed = exc
                    waiters, self._waiters = self._waiters, []
                    self._held = 0
                    for _, fut, _ in waiters:
                        if not fut.done():
                            fut.set_exception(exc)
                    return
                flushed, end = plog.recovery_point, plog.log_end_offset
                remaining = []
                for waiter in self._waiters:
                    up_to, fut, _ = waiter
                    if fut.done():
                        continue
                    if up_to <= flushed or up_to > end:
                        # Covered; or truncated away meanwhile, so nothing is left to flush.
                        fut.set_result(None)
                    else:
                        remaining.append(waiter)
                self._waiters = remaining
                self._held = sum(1 for w in remaining if w[2])
        finally:
            self._task = None


def _log_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and (exc := fut.exception()) is not None:
        log.error("background flush failed", exc_info=exc)
