"""The leader's side of AlterPartition: ISR proposals batched to the controller.

Kafka's ``AlterPartitionManager``: every partition this broker leads may have one ISR change
in flight; changes proposed while a request is out wait and go together in the next one, so
a thousand partitions whose follower died cost one request, not a thousand. Answers are
handled as Kafka's ``Partition`` does:

- success: the partition adopts the ISR and partition epoch the controller committed, unless
  the answer is stale (another term, an older partition epoch, a proposal since replaced);
- a refusal that newer metadata will explain (UNKNOWN_TOPIC_*, FENCED_LEADER_EPOCH,
  INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA, NEW_LEADER_ELECTED, INVALID_REQUEST): back to
  the committed ISR, to be proposed again by the next fetch or lag check if still needed;
- anything else (no controller, a timeout, NOT_CONTROLLER): sent again after a back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from brook.metadata.controller.alter_partition import IsrChange, IsrChangeResult
from brook.protocol.errors import ErrorCode
from brook.replication.partition import Partition

log = logging.getLogger(__name__)

Send = Callable[[int, int, Sequence[IsrChange]], Awaitable[list[IsrChangeResult]]]
"""``(broker_id, broker_epoch, changes)`` -> answers; raises on a request-level failure."""

RETRY_BACKOFF_S = 0.1
MAX_CHANGES_PER_REQUEST = 1000
"""A request's changes are committed as one metadata batch: a broker whose follower died
while it led ten thousand partitions sends them a thousand at a time, each batch far below
the metadata log's bound on one append."""
_FINAL = frozenset({
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID,
    ErrorCode.FENCED_LEADER_EPOCH, ErrorCode.INVALID_UPDATE_VERSION,
    ErrorCode.INELIGIBLE_REPLICA, ErrorCode.NEW_LEADER_ELECTED, ErrorCode.INVALID_REQUEST,
    ErrorCode.STALE_BROKER_EPOCH,
})


class AlterPartitionManager:
    """Lifecycle: created with the replica manager; ``send`` is wired once the controller
    channel exists; ``close`` at shutdown. Event-loop thread only."""

    def __init__(self, node_id: int, broker_epoch: Callable[[], int]) -> None:
        self.node_id = node_id
        self.broker_epoch = broker_epoch
        self.send: Send | None = None
        self._queued: dict[tuple[bytes, int], tuple[Partition, tuple[int, ...], IsrChange]] = {}
        self._task: asyncio.Task[None] | None = None
        self.requests_sent = 0

    def submit(self, part: Partition, new_isr: tuple[int, ...],
               epochs: Callable[[int], int]) -> bool:
        """Propose ``new_isr`` for ``part`` (the caller checked nothing is in flight);
        ``epochs`` gives the broker epoch each member fetched with."""
        if self.send is None:
            return False
        part.propose_isr(new_isr)
        change = IsrChange(part.topic_id, part.tp.partition, part.leader_epoch,
                           part.partition_epoch, tuple((b, epochs(b)) for b in new_isr))
        self._queued[(part.topic_id, part.tp.partition)] = (part, new_isr, change)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return True

    async def _drain(self) -> None:
        while self._queued and self.send is not None:
            # A proposal the metadata image replaced while it waited is not sent.
            keys = list(self._queued)[:MAX_CHANGES_PER_REQUEST]
            batch = [item for item in (self._queued.pop(k) for k in keys)
                     if item[0].pending_isr == item[1]]
            if not batch:
                continue
            try:
                self.requests_sent += 1
                results = await self.send(self.node_id, self.broker_epoch(),
                                          [c for _, _, c in batch])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # no controller answered: the whole batch again
                log.info("AlterPartition for %d partitions failed (%s); retrying",
                         len(batch), exc)
                self._requeue(batch)
                await asyncio.sleep(RETRY_BACKOFF_S)
                continue
            if self._handle(batch, results):
                await asyncio.sleep(RETRY_BACKOFF_S)

    def _requeue(self, batch: list[tuple[Partition, tuple[int, ...], IsrChange]]) -> None:
        for item in batch:
            part, proposed, change = item
            key = (change.topic_id, change.partition)
            if part.pending_isr == proposed and key not in self._queued:
                self._queued[key] = item

    def _handle(self, batch: list[tuple[Partition, tuple[int, ...], IsrChange]],
                results: list[IsrChangeResult]) -> bool:
        answers = {(r.topic_id, r.partition): r for r in results}
        retry = []
        for item in batch:
            part, proposed, change = item
            r = answers.get((change.topic_id, change.partition))
            if r is None or (r.error not in _FINAL and r.error != ErrorCode.NONE):
                retry.append(item)
            elif r.error == ErrorCode.NONE:
                if part.isr_change_committed(proposed, r.leader_epoch, r.isr,
                                             r.partition_epoch):
                    log.info("%s: ISR now %s (partition epoch %d)", part.tp, list(r.isr),
                             r.partition_epoch)
            else:
                log.info("%s: the controller refused ISR %s: %s", part.tp, list(proposed),
                         r.error.name)
                part.isr_change_failed(proposed)
        if retry:
            self._requeue(retry)
        return bool(retry)

    async def close(self) -> None:
        self.send = None
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
