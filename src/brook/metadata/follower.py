"""Feeding a broker's loader from a cluster's shared metadata log.

In a cluster every broker — the active controller's included — applies the metadata log the
same way: this follower reads the committed records from the log (:mod:`brook.raft.fenced`),
replays each burst of them into one delta and publishes it through the broker's
:class:`~brook.metadata.loader.MetadataLoader`. There is one path from the log to the image, so
every broker's image is the same function of the same log prefix.

The controller, having appended, waits with :meth:`MetadataFollower.wait_applied` until its
records are in the image before it answers — "committed, then visible", as with the local log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from brook.metadata.delta import MetadataDelta
from brook.metadata.image import MetadataImage
from brook.metadata.loader import MetadataLoader
from brook.metadata.serde import decode_record
from brook.metadata.snapshot import snapshot_delta
from brook.raft.fenced import LogGapError, MetadataLogError

__all__ = ["CommittedRecords", "MetadataFollower"]

log = logging.getLogger(__name__)

CommittedRecords = Callable[[int], AsyncIterator[tuple[int, bytes]]]
"""``follow(start)`` of a fenced metadata log: committed ``(offset, value)`` forever."""

LoadSnapshot = Callable[[], Awaitable[tuple[int, list[bytes]] | None]]
"""The newest metadata snapshot as ``(end offset, record values)``, or None."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    end: int
    values: list[bytes]


class MetadataFollower:
    """Lifecycle: the loader has loaded (``load_records``); ``start``; ``stop`` at shutdown."""

    def __init__(self, loader: MetadataLoader, follow: CommittedRecords,
                 load_snapshot: LoadSnapshot | None = None) -> None:
        self._loader = loader
        self._follow = follow
        self._load_snapshot = load_snapshot
        self._queue: asyncio.Queue[tuple[int, bytes] | _Snapshot] = asyncio.Queue()
        self.bytes_since_snapshot = 0
        """Bytes of records applied since the last snapshot (what the controller snapshots by)."""
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.failure: BaseException | None = None

    @property
    def applied_offset(self) -> int:
        return self._loader.image.offset

    @property
    def image(self) -> MetadataImage:
        """The image as applied so far."""
        return self._loader.image

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        start = self._loader.image.offset + 1
        self._tasks = [loop.create_task(self._pump(start)), loop.create_task(self._apply())]

    async def stop(self) -> None:
        """Stop following; whoever still waits for an offset (a controller's append in flight)
        is told, rather than left waiting on a broker that is going away."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(MetadataLogError("the metadata follower stopped"))
        self._waiters = []

    async def _pump(self, start: int) -> None:
        try:
            while True:
                try:
                    async for record in self._follow(start):
                        self._queue.put_nowait(record)
                        start = record[0] + 1
                except LogGapError:
                    # The records this broker still needs were replaced by a snapshot (it was
                    # paused, or cut off, while the controller trimmed the log): load the
                    # snapshot, then follow from its end.
                    snapshot = await self._load_snapshot() if self._load_snapshot else None
                    if snapshot is None or snapshot[0] < start:
                        raise
                    log.warning("metadata log trimmed below offset %d: loading the snapshot "
                                "at %d", start, snapshot[0])
                    self._queue.put_nowait(_Snapshot(*snapshot))
                    start = snapshot[0] + 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a batch that cannot be read: stop, loudly
            self._fail(exc)
            raise

    async def _apply(self) -> None:
        try:
            while True:
                pending = [await self._queue.get()]
                while not self._queue.empty():
                    pending.append(self._queue.get_nowait())
                # Runs of records become one delta each; a snapshot between them is its own.
                burst: list[tuple[int, bytes]] = []
                for item in pending:
                    if isinstance(item, _Snapshot):
                        if burst:
                            await self._publish(burst)
                            burst = []
                        await self._publish_snapshot(item)
                    else:
                        burst.append(item)
                if burst:
                    await self._publish(burst)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a record that cannot be applied: stop, loudly
            self._fail(exc)
            raise

    def _fail(self, exc: Exception) -> None:
        """The image can no longer follow the log: say so, and fail whoever waits on it (an
        active controller waiting for its own append) rather than leave them waiting forever."""
        log.critical("cannot apply the metadata log: %s", exc, exc_info=exc)
        self.failure = exc
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(exc)
        self._waiters = []

    async def _publish_snapshot(self, snapshot: _Snapshot) -> None:
        current = self._loader.image
        if snapshot.end <= current.offset:
            return
        records = [r for r in (decode_record(v) for v in snapshot.values) if r is not None]
        delta = snapshot_delta(current, records, snapshot.end)
        await self._loader.publish(delta, delta.apply())
        self.bytes_since_snapshot = 0
        self._wake(self._loader.image.offset)

    def _wake(self, done: int) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for offset, fut in self._waiters:
            if offset <= done:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((offset, fut))
        self._waiters = still

    async def _publish(self, records: Sequence[tuple[int, bytes]]) -> None:
        image = self._loader.image
        delta = MetadataDelta(image)
        applied = False
        for offset, value in records:
            if offset <= image.offset:
                continue  # already in the image (a resumed read overlapping the last one)
            if offset != delta.last_offset + 1:
                raise RuntimeError(f"metadata offset {offset} follows {delta.last_offset}")
            record = decode_record(value)
            if record is not None:
                delta.replay(record, offset)
            else:
                delta.last_offset = offset
            self.bytes_since_snapshot += len(value)
            applied = True
        if not applied:
            return
        await self._loader.publish(delta, delta.apply())
        self._wake(self._loader.image.offset)

    async def wait_applied(self, offset: int) -> None:
        """Return once the image includes ``offset``."""
        if self.failure is not None:
            raise self.failure
        if self._loader.image.offset >= offset:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((offset, fut))
        await fut
