"""One followed partition: where its fetcher stands, and what the leader's answers do to its log.

The fetcher (:mod:`brook.replication.fetcher`) owns the network; this module owns the log side
of following, as Kafka's ``AbstractFetcherThread`` / ``ReplicaFetcherThread`` split it:
appending the leader's batches (:meth:`brook.storage.log.Log.append_as_follower`), the
follower's high watermark (the leader's, capped at its own log end), the log start offset
the leader moved, the flush settings, and truncation.

Truncation. A replica's log may hold a tail the current leader never had (it led an earlier
epoch and wrote records no one else copied, or it copied them from such a leader). Such a tail
is below no high watermark the cluster acknowledged, and must go before anything else is
appended. The leader-epoch cache finds it, as in Kafka since KIP-101/279/320:

* the follower asks where the leader's copy of its own latest epoch ends, and truncates to
  ``min(leader's end for that epoch, own end for that epoch, own log end)``
  (:func:`truncation_offset`, Kafka's ``getOffsetTruncationState``); when the leader answers
  with an epoch the follower does not have, the follower truncates to the end of its largest
  epoch below it and asks again (KIP-279);
* the question is asked in two ways. When a partition starts following a leader epoch and its
  log holds epochs, the fetcher sends OffsetForLeaderEpoch before the first fetch (Kafka's path
  before truncation on fetch, which every leader answers, including one that serves a
  follower's fetch like a consumer's). Every fetch also carries ``last_fetched_epoch``, and a
  leader that finds it diverging answers ``diverging_epoch`` (KIP-320, Kafka 4's way); the
  follower then truncates by the same rule and fetches again. A log with data but no epoch
  at all (never written by a brook leader) cannot say where it diverges: it is emptied and
  copied again from the leader's log start.
* OFFSET_OUT_OF_RANGE (Kafka's ``handleOutOfRangeError``): ahead of the leader's log end, the
  follower truncates to it; behind the leader's log start, it empties its log and restarts at
  that start (``truncate_fully_and_start_at``); otherwise it fetches again from its own end.

Disk work: appends run on the event loop as the leader's appends do (the bytes go to the
page cache); checking a large answer's CRCs runs in a worker thread, and fsyncs go through the
log's flusher in worker threads (``flush.messages`` is awaited before the next fetch, so the
leader never counts a follower's copy that the setting says must be on disk first). A
truncation, rare (once per divergence found), does its file work inline as
``Log.truncate_to`` does, including the leader-epoch checkpoint's fsync: moving it to a
worker thread would race the log manager's retention, which changes the segment list on the
loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass

from brook.replication.partition import Partition, TopicPartition
from brook.storage.errors import LogDirError, UnexpectedAppendOffsetError
from brook.storage.follower_records import FollowerBatches, validate_follower_records
from brook.storage.leader_epoch import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
from brook.storage.log_types import LogAppendInfo

__all__ = [
    "FetchState",
    "FollowedPartition",
    "append_fetched",
    "follow_leader_offsets",
    "truncate",
    "truncation_offset",
]

log = logging.getLogger(__name__)

_OFF_LOOP_BYTES = 256 * 1024
"""An answer this large has its CRCs checked in a worker thread (about 0.1 ms per 256 KiB in
C; a 10 MiB answer would hold the loop for milliseconds)."""


class FetchState(enum.Enum):
    TRUNCATING = "truncating"
    """Ask the leader (OffsetForLeaderEpoch) where this log diverges before fetching."""
    FETCHING = "fetching"


@dataclass(slots=True)
class FollowedPartition:
    """A partition this broker follows, as one fetcher sees it (Kafka's ``PartitionFetchState``).

    A new leader or leader epoch makes a new object, so an answer to a request sent for the
    old one is recognised (``fetcher.states[tp] is not this``) and dropped."""

    tp: TopicPartition
    topic_id: bytes
    partition: Partition
    leader_epoch: int
    fetch_offset: int
    state: FetchState
    delayed_until: float = 0.0
    failed: bool = False
    """Fenced by the leader at this epoch: wait for the next metadata to move it."""

    @classmethod
    def start(cls, part: Partition, leader_epoch: int) -> FollowedPartition:
        """Kafka's ``initialFetchState``: fetch from the log end; first find where the log
        diverges when it holds epochs; empty a log that holds data without any epoch."""
        plog = part.log
        has_data = plog.log_end_offset > plog.log_start_offset
        if has_data and plog.leader_epoch_cache.latest_epoch == UNDEFINED_EPOCH:
            log.warning("%s holds offsets %d..%d without leader epochs; copying it again from "
                        "the leader", part.tp, plog.log_start_offset, plog.log_end_offset - 1)
            plog.truncate_fully_and_start_at(plog.log_start_offset)
            part.high_watermark = min(part.high_watermark, plog.log_end_offset)
        state = FetchState.TRUNCATING if has_data else FetchState.FETCHING
        return cls(part.tp, part.topic_id, part, leader_epoch, plog.log_end_offset, state)

    @property
    def last_fetched_epoch(self) -> int:
        """The epoch of the last batch this log holds (Fetch v12+ ``last_fetched_epoch``)."""
        return self.partition.log.leader_epoch_cache.latest_epoch


def truncation_offset(
    state: FollowedPartition, leader_epoch: int, leader_end_offset: int
) -> tuple[int, bool]:
    """``(offset to truncate to, done)`` for the leader's ``(epoch, end offset)`` answer;
    ``done`` False means: truncate there, then ask the leader again (Kafka's
    ``getOffsetTruncationState``)."""
    plog = state.partition.log
    end = plog.log_end_offset
    if leader_end_offset == UNDEFINED_EPOCH_OFFSET:
        # The leader knows no epoch at or below ours: keep the log, and let the fetch's
        # OFFSET_OUT_OF_RANGE settle a log that is longer than the leader's.
        return state.fetch_offset, True
    if leader_epoch == UNDEFINED_EPOCH:
        return min(leader_end_offset, end), True
    own_epoch, own_end = plog.leader_epoch_cache.end_offset_for(leader_epoch, end)
    if own_epoch == UNDEFINED_EPOCH:
        return min(leader_end_offset, end), True
    if own_epoch != leader_epoch:
        return min(own_end, end), False
    return min(own_end, leader_end_offset, end), True


def truncate(state: FollowedPartition, offset: int) -> None:
    """Remove this log's offsets from ``offset`` on; fetch from the new end."""
    part = state.partition
    plog = part.log
    if offset < plog.log_end_offset:
        log.info("%s: truncating from %d to %d (leader epoch %d)", state.tp,
                 plog.log_end_offset, offset, state.leader_epoch)
        if offset < plog.log_start_offset:
            plog.truncate_fully_and_start_at(offset)
        else:
            plog.truncate_to(offset)
    else:  # nothing to remove; an epoch this broker led without appending still goes
        plog.truncate_to(offset)
    part.high_watermark = min(part.high_watermark, plog.log_end_offset)
    state.fetch_offset = plog.log_end_offset


def truncate_fully_and_start_at(state: FollowedPartition, offset: int) -> None:
    part = state.partition
    log.info("%s: log emptied to restart at the leader's log start %d", state.tp, offset)
    part.log.truncate_fully_and_start_at(offset)
    part.high_watermark = offset
    state.fetch_offset = offset


async def validate(records: memoryview) -> FollowerBatches:
    """The answer's batches checked, in a worker thread when the answer is large."""
    if records.nbytes >= _OFF_LOOP_BYTES:
        return await asyncio.to_thread(validate_follower_records, records)
    return validate_follower_records(records)


def append_fetched(
    state: FollowedPartition, records: memoryview, batches: FollowerBatches, now_ms: int
) -> LogAppendInfo:
    """Append the leader's batches at the fetch offset (Kafka's ``processPartitionData``).
    An empty log whose first fetched batch starts below the fetch offset (the leader's log
    start is inside that batch, after DeleteRecords) restarts at the batch's base offset."""
    plog = state.partition.log
    if plog.flusher.failed is not None:
        raise LogDirError(f"{plog.dir} failed to flush: {plog.flusher.failed}")
    try:
        info = plog.append_as_follower(records, now_ms, validated=batches)
    except UnexpectedAppendOffsetError as exc:
        end = plog.log_end_offset
        if end != plog.log_start_offset or not exc.first_offset < end <= exc.last_offset:
            raise
        plog.truncate_fully_and_start_at(exc.first_offset)
        info = plog.append_as_follower(records, now_ms, validated=batches)
    if info.valid_bytes:
        state.fetch_offset = plog.log_end_offset
    return info


def follow_leader_offsets(state: FollowedPartition, high_watermark: int, log_start: int) -> None:
    """The follower's high watermark is the leader's, capped at its own log end; its log
    start follows the leader's (retention and DeleteRecords there), never past its own high
    watermark. Segment files the move frees are removed by the caller in a worker thread."""
    part = state.partition
    plog = part.log
    if high_watermark >= 0:
        # Set, not only raised: a log opened with its end as high watermark may be ahead of
        # what the leader acknowledged, and the leader's answer corrects it.
        part.high_watermark = min(high_watermark, plog.log_end_offset)
    if log_start > plog.log_start_offset:
        plog.maybe_increment_log_start_offset(min(log_start, part.high_watermark),
                                              high_watermark=part.high_watermark, defer_io=True)


def flush_after_append(state: FollowedPartition, now_ms: int) -> asyncio.Future[None] | None:
    """The leader's flush policy for a follower's append: a future to await before the next
    fetch once ``flush.messages`` is reached; otherwise a background flush after a roll or
    when ``flush.ms`` has passed."""
    plog = state.partition.log
    flusher = plog.flusher
    if plog.flush_due:
        return flusher.request(plog.log_end_offset, now_ms)
    if not flusher.busy:
        if plog.pending_flush_offset is not None:
            flusher.request_background(plog.pending_flush_offset, now_ms)
        elif now_ms - plog.last_flush_ms >= plog.config.flush_ms and plog.unflushed_messages:
            flusher.request_background(plog.log_end_offset, now_ms)
    return None
