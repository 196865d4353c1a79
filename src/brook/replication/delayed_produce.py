"""acks=all produces waiting for the high watermark: Kafka's DelayedProduce purgatory.

A produce with acks=all is answered once the high watermark passes its last record, i.e.
once every replica of the (maximal) ISR has it. The leader keeps one heap of waiters per
partition, keyed by the offset each needs; whatever moves the high watermark (an append, a
follower's fetch, an ISR change) pops the waiters it satisfies, so nothing polls and a
partition with no waiting produce pays one truthiness test. Kafka's completion rules:

- high watermark passed and the ISR still at least ``min.insync.replicas``: success;
- passed, but the ISR shrank below it meanwhile: NOT_ENOUGH_REPLICAS_AFTER_APPEND (the
  records are in the log, on fewer copies than the producer asked for);
- leadership lost while waiting: NOT_LEADER_OR_FOLLOWER (the new leader may or may not
  have the records; the producer retries).

The request's ``timeout_ms`` is applied by the produce handler (REQUEST_TIMED_OUT).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class NotEnoughReplicasAfterAppendError(Exception):
    """The records were appended, but the ISR shrank below ``min.insync.replicas``."""


class NotLeaderOrFollowerError(Exception):
    """This broker stopped leading the partition before the records were replicated."""


_seq = itertools.count()


class DelayedProduces:
    """The waiting acks=all produces of one partition."""

    __slots__ = ("heap",)

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, asyncio.Future[None]]] = []
        """Read directly (``if delayed.heap``) on the append path: cheaper than ``__bool__``."""

    def add(self, required_offset: int) -> asyncio.Future[None]:
        """A waiter for ``required_offset``. Waiters whose request timed out (cancelled) stay
        in the heap until the high watermark passes them; while it is stuck (a dead follower
        still in the ISR) retries would pile them up, so the heap is rebuilt without them
        whenever it doubles (Kafka's purgatory purge)."""
        heap = self.heap
        if len(heap) >= 64 and len(heap) & (len(heap) - 1) == 0:
            heap[:] = [entry for entry in heap if not entry[2].done()]
            heapq.heapify(heap)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(heap, (required_offset, next(_seq), fut))
        return fut

    def complete_up_to(self, high_watermark: int, enough_replicas: bool) -> None:
        heap = self.heap
        while heap and heap[0][0] <= high_watermark:
            fut = heapq.heappop(heap)[2]
            if fut.done():
                continue  # timed out and cancelled by its request
            if enough_replicas:
                fut.set_result(None)
            else:
                fut.set_exception(NotEnoughReplicasAfterAppendError(
                    "the ISR shrank below min.insync.replicas while the records replicated"))

    def fail_all(self, reason: str) -> None:
        heap, self.heap = self.heap, []
        for _, _, fut in heap:
            if not fut.done():
                fut.set_exception(NotLeaderOrFollowerError(reason))
