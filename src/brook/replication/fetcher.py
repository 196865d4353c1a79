"""A replica fetcher: one asyncio task copying the partitions one leader broker leads.

Kafka's ``ReplicaFetcherThread``: the task sends Fetch (v17: ``replica_state`` names this
broker and its broker epoch, so the leader reads up to its log end and counts the fetch
offset as this replica's log end) for every partition it follows from that leader, in one
request over its own connection, whose client id ``broker-<node>-fetcher-<leader>`` tells
the leader (and a network fault injector) who is asking. Answers are applied per partition
by :mod:`brook.replication.follower`, which explains how logs are truncated. Partitions that
fail are delayed by ``replica.fetch.backoff.ms`` (an unreachable leader delays them all);
a leader that fences this broker's leader epoch leaves the partition idle until the next
metadata restarts it. A partition the follower replication quota throttles
(:mod:`brook.replication.replication_quota`) is left out of the request while the quota is
exceeded, and the bytes received for it are recorded. While nothing is ready the task waits
on an event that adding a partition (or new metadata: a throttle may have been lifted) sets,
or until the earliest delay ends, or until the quota allows again: it never polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from brook.env import Clock
from brook.protocol._codec import Message
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse
from brook.protocol.messages.offset_for_leader_epoch import (
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)
from brook.replication import follower
from brook.replication.follower import FetchState, FollowedPartition
from brook.replication.partition import TopicPartition
from brook.replication.replication_quota import ReplicationQuota, should_follower_throttle
from brook.storage.errors import CorruptRecordError, InvalidRecordError, StorageError
from brook.storage.log import Log

__all__ = [
    "FETCH_VERSION",
    "LIST_OFFSETS_VERSION",
    "OFFSET_FOR_LEADER_EPOCH_VERSION",
    "FetcherConfig",
    "LeaderConnection",
    "ReplicaFetcher",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

FETCH_VERSION = 17
"""The newest Fetch both the codec and brook's handler speak (``replica_state`` from v15)."""
OFFSET_FOR_LEADER_EPOCH_VERSION = 4
LIST_OFFSETS_VERSION = 7
_LATEST, _EARLIEST = -1, -2
_RETRY_LATER = frozenset({
    ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.UNKNOWN_LEADER_EPOCH,
    ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.UNKNOWN_TOPIC_ID,
    ErrorCode.INCONSISTENT_TOPIC_ID, ErrorCode.REPLICA_NOT_AVAILABLE,
})  # fmt: skip


class LeaderConnection(Protocol):
    """One connection to the leader (``broker.inter_broker_client.InterBrokerClient``);
    ``send`` raises on any failure, after which the connection reconnects by itself."""

    async def send(self, request: Message, version: int, response_type: type[M]) -> M: ...

    def close(self) -> None: ...


ConnectionFactory = Callable[[str, int, str, float], LeaderConnection]
"""``(host, port, client id, timeout seconds)`` -> a connection."""


@dataclass(frozen=True, slots=True)
class FetcherConfig:
    """Kafka's replica fetcher settings (read in ``fetcher_manager``)."""

    num_fetchers: int = 1
    wait_max_ms: int = 500
    min_bytes: int = 1
    max_bytes: int = 1_048_576
    response_max_bytes: int = 10_485_760
    backoff_ms: int = 1_000
    socket_timeout_ms: int = 30_000


class ReplicaFetcher:
    """Lifecycle: ``start`` once the broker is registered, partitions added and removed at any
    time (event loop), ``stop`` once."""

    def __init__(self, node_id: int, leader_id: int, config: FetcherConfig, clock: Clock,
                 connect: ConnectionFactory, broker_epoch: Callable[[], int],
                 quota: ReplicationQuota | None = None) -> None:
        self.node_id = node_id
        self.leader_id = leader_id
        self.client_id = f"broker-{node_id}-fetcher-{leader_id}"
        self._config = config
        self._clock = clock
        self._connect = connect
        self._broker_epoch = broker_epoch
        self._quota = quota
        """The follower replication quota (None: never throttled)."""
        self.states: dict[TopicPartition, FollowedPartition] = {}
        self._endpoint: tuple[str, int] | None = None
        self._conn: LeaderConnection | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unreachable = False
        self._stopping = False

    # -- control (event loop) ----------------------------------------------------------------

    def set_endpoint(self, host: str, port: int) -> None:
        if self._endpoint != (host, port):
            self._endpoint = (host, port)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._wake.set()

    def add(self, state: FollowedPartition) -> None:
        self.states[state.tp] = state
        self._wake.set()

    def remove(self, tp: TopicPartition) -> None:
        self.states.pop(tp, None)

    def wake(self) -> None:
        """Look at the partitions again (a throttle may have changed)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.client_id)

    async def stop(self) -> None:
        """Cancel the loop and wait for it. Python 3.11's ``wait_for`` can swallow a
        cancellation that lands as its inner wait completes, so the loop also checks
        ``_stopping`` and the cancellation is repeated until the task has ended."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            while not task.done():
                task.cancel()
                await asyncio.wait((task,), timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _current(self, state: FollowedPartition) -> bool:
        """Still followed as it was when a request was sent (not removed, not restarted)."""
        return self.states.get(state.tp) is state and not state.failed

    def _delay(self, states: Iterable[FollowedPartition]) -> None:
        until = self._clock.monotonic() + self._config.backoff_ms / 1000.0
        for state in states:
            state.delayed_until = max(state.delayed_until, until)

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            now = self._clock.monotonic()
            ready = [s for s in self.states.values() if not s.failed and s.delayed_until <= now]
            truncating = [s for s in ready if s.state is FetchState.TRUNCATING]
            fetching = [s for s in ready if s.state is FetchState.FETCHING]
            throttled_for = 0.0
            if fetching and self._quota is not None:
                fetching, throttled_for = self._unthrottled(fetching)
            if self._endpoint is None or not ready:
                await self._idle(now)
            elif truncating:
                await self._guard(truncating, self._truncate_by_epoch(truncating))
            elif fetching:
                await self._guard(fetching, self._fetch(fetching))
            else:  # every ready partition is throttled
                await self._idle(now, now + throttled_for)

    def _unthrottled(self, states: list[FollowedPartition]) -> tuple[list[FollowedPartition], float]:
        """The partitions to fetch now, and how long the held-back ones wait (Kafka waits
        ``replica.fetch.backoff.ms``; the quota says when it will allow again, at most that)."""
        quota = self._quota
        assert quota is not None
        kept = [s for s in states if not should_follower_throttle(quota, s.partition)]
        if len(kept) == len(states):
            return kept, 0.0
        wait = min(quota.seconds_until_within(), self._config.backoff_ms / 1000.0)
        return kept, max(wait, 0.01)

    async def _idle(self, now: float, throttled_until: float | None = None) -> None:
        self._wake.clear()
        pending = [s.delayed_until for s in self.states.values()
                   if not s.failed and s.delayed_until > now]
        if throttled_until is not None:
            pending.append(throttled_until)
        timeout = max(min(pending) - now, 0.001) if pending and self._endpoint else None
        with contextlib.suppress(TimeoutError):
            if timeout is None:
                await self._wake.wait()
            else:
                await self._clock.wait_for(self._wake.wait(), timeout)

    async def _guard(self, states: list[FollowedPartition], work: Awaitable[None]) -> None:
        """Run one round; a failed round trip (leader unreachable, connection cut, an answer
        that cannot be read) delays the round's partitions."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed round trip, whatever its cause: back off, retry
            if self._conn is not None:
                self._conn.close()
            if not self._unreachable:
                log.warning("%s: fetching from broker %d failed (%r); retrying every %d ms",
                            self.client_id, self.leader_id, exc, self._config.backoff_ms)
            self._unreachable = True
            self._delay(states)
            return
        if self._unreachable:
            log.info("%s: broker %d reachable again", self.client_id, self.leader_id)
            self._unreachable = False

    async def _send(self, request: Message, version: int, response_type: type[M]) -> M:
        if self._conn is None:
            assert self._endpoint is not None
            host, port = self._endpoint
            self._conn = self._connect(host, port, self.client_id,
                                       self._config.socket_timeout_ms / 1000.0)
        return await self._conn.send(request, version, response_type)

    # -- fetch -------------------------------------------------------------------------------

    def _fetch_request(self, states: list[FollowedPartition]) -> FetchRequest:
        config = self._config
        topics: dict[bytes, FetchRequest.FetchTopic] = {}
        for s in states:
            topic = topics.get(s.topic_id)
            if topic is None:
                topic = topics[s.topic_id] = FetchRequest.FetchTopic(topic_id=s.topic_id)
            topic.partitions.append(FetchRequest.FetchPartition(
                partition=s.tp.partition, current_leader_epoch=s.leader_epoch,
                fetch_offset=s.fetch_offset, last_fetched_epoch=s.last_fetched_epoch,
                log_start_offset=s.partition.log.log_start_offset,
                partition_max_bytes=config.max_bytes,
            ))  # fmt: skip
        return FetchRequest(
            replica_state=FetchRequest.ReplicaState(
                replica_id=self.node_id, replica_epoch=self._broker_epoch()),
            max_wait_ms=config.wait_max_ms, min_bytes=config.min_bytes,
            max_bytes=config.response_max_bytes, isolation_level=0,
            session_id=0, session_epoch=-1, topics=list(topics.values()),
        )  # fmt: skip

    async def _fetch(self, states: list[FollowedPartition]) -> None:
        sent = {(s.topic_id, s.tp.partition): (s, s.fetch_offset) for s in states}
        response = await self._send(self._fetch_request(states), FETCH_VERSION, FetchResponse)
        if response.error_code != ErrorCode.NONE:
            log.info("%s: fetch answered %s", self.client_id, _name(response.error_code))
            self._delay(states)
            return
        owed: list[Log] = []
        flushes: list[tuple[FollowedPartition, asyncio.Future[None]]] = []
        answered: set[tuple[bytes, int]] = set()
        for topic in response.responses:
            for data in topic.partitions:
                key = (topic.topic_id, data.partition_index)
                entry = sent.get(key)
                if entry is None:
                    continue
                answered.add(key)
                state, offset = entry
                if self._current(state) and state.fetch_offset == offset:
                    await self._apply(state, data, owed, flushes)
        self._delay(s for key, (s, _) in sent.items() if key not in answered)
        if owed:
            await asyncio.to_thread(_run_deferred_io, owed)
        for state, fut in flushes:
            try:
                await fut
            except Exception as exc:  # the log's flusher keeps the failure; appends stop
                # Its fetch offset would report records that are not on disk as copied.
                log.error("%s: flush failed: %r; no longer fetching it", state.tp, exc)
                state.failed = True

    async def _apply(self, state: FollowedPartition, data: FetchResponse.PartitionData,
                     owed: list[Log],
                     flushes: list[tuple[FollowedPartition, asyncio.Future[None]]]) -> None:
        error = data.error_code
        if error == ErrorCode.NONE:
            diverging = data.diverging_epoch
            if diverging is not None and diverging.epoch >= 0 and diverging.end_offset >= 0:
                self._truncate_to_epoch_end(state, diverging.epoch, diverging.end_offset)
                return
            try:
                await self._append(state, data, owed, flushes)
            except (CorruptRecordError, InvalidRecordError) as exc:
                log.error("%s: invalid batches from broker %d at offset %d: %s", state.tp,
                          self.leader_id, state.fetch_offset, exc)
                self._delay((state,))
            except StorageError as exc:
                log.error("%s: cannot append at offset %d: %r; waiting for new metadata",
                          state.tp, state.fetch_offset, exc)
                state.failed = True
        elif error == ErrorCode.OFFSET_OUT_OF_RANGE:
            await self._out_of_range(state)
        elif error == ErrorCode.FENCED_LEADER_EPOCH:
            log.info("%s: broker %d leads a newer epoch than %d; waiting for the metadata",
                     state.tp, self.leader_id, state.leader_epoch)
            state.failed = True
        else:
            if error not in _RETRY_LATER:
                log.warning("%s: fetch from broker %d answered %s", state.tp, self.leader_id,
                            _name(error))
            self._delay((state,))

    async def _append(self, state: FollowedPartition, data: FetchResponse.PartitionData,
                      owed: list[Log],
                      flushes: list[tuple[FollowedPartition, asyncio.Future[None]]]) -> None:
        raw = data.records
        records = None if raw is None else (
            raw if isinstance(raw, memoryview) else memoryview(
                raw if isinstance(raw, (bytes, bytearray)) else b"".join(raw)))
        if records is not None and records.nbytes:
            if self._quota is not None and self._quota.is_throttled(state.partition):
                self._quota.record(records.nbytes)
            batches = await follower.validate(records)
            if not self._current(state):
                return  # restarted or removed while the batches were checked
            follower.append_fetched(state, records, batches, self._clock.now_ms())
            fut = follower.flush_after_append(state, self._clock.now_ms())
            if fut is not None:
                flushes.append((state, fut))
        follower.follow_leader_offsets(state, data.high_watermark, data.log_start_offset)
        plog = state.partition.log
        if plog.has_deferred_io:
            owed.append(plog)

    # -- truncation --------------------------------------------------------------------------

    def _truncate_to_epoch_end(self, state: FollowedPartition, epoch: int, end_offset: int) -> None:
        offset, done = follower.truncation_offset(state, epoch, end_offset)
        follower.truncate(state, offset)
        state.state = FetchState.FETCHING if done else FetchState.TRUNCATING

    async def _truncate_by_epoch(self, states: list[FollowedPartition]) -> None:
        """OffsetForLeaderEpoch for each partition's latest epoch, then truncate."""
        asked: dict[tuple[str, int], FollowedPartition] = {}
        topics: dict[str, OffsetForLeaderEpochRequest.OffsetForLeaderTopic] = {}
        for s in states:
            epoch = s.last_fetched_epoch
            if epoch < 0:  # emptied meanwhile: nothing to validate
                s.state = FetchState.FETCHING
                continue
            asked[(s.tp.topic, s.tp.partition)] = s
            topic = topics.get(s.tp.topic)
            if topic is None:
                topic = topics[s.tp.topic] = OffsetForLeaderEpochRequest.OffsetForLeaderTopic(
                    topic=s.tp.topic)
            topic.partitions.append(OffsetForLeaderEpochRequest.OffsetForLeaderPartition(
                partition=s.tp.partition, current_leader_epoch=s.leader_epoch, leader_epoch=epoch))
        if not asked:
            return
        request = OffsetForLeaderEpochRequest(replica_id=self.node_id, topics=list(topics.values()))
        response = await self._send(request, OFFSET_FOR_LEADER_EPOCH_VERSION,
                                    OffsetForLeaderEpochResponse)
        for topic_result in response.topics:
            for p in topic_result.partitions:
                state = asked.pop((topic_result.topic, p.partition), None)
                if state is None or not self._current(state):
                    continue
                if p.error_code == ErrorCode.NONE:
                    self._truncate_to_epoch_end(state, p.leader_epoch, p.end_offset)
                elif p.error_code == ErrorCode.FENCED_LEADER_EPOCH:
                    state.failed = True
                else:
                    self._delay((state,))
        self._delay(asked.values())

    async def _out_of_range(self, state: FollowedPartition) -> None:
        """Kafka's ``fetchOffsetAndTruncate``: ahead of the leader's end, truncate to it;
        behind its log start, empty the log and restart there; else fetch from our end."""
        latest = await self._list_offset(state, _LATEST)
        if latest is None or not self._current(state):
            return
        plog = state.partition.log
        if latest < plog.log_end_offset:
            follower.truncate(state, latest)
            state.state = FetchState.FETCHING
            return
        earliest = await self._list_offset(state, _EARLIEST)
        if earliest is None or not self._current(state):
            return
        if earliest > plog.log_end_offset:
            follower.truncate_fully_and_start_at(state, earliest)
        else:
            state.fetch_offset = plog.log_end_offset

    async def _list_offset(self, state: FollowedPartition, timestamp: int) -> int | None:
        request = ListOffsetsRequest(replica_id=self.node_id, topics=[
            ListOffsetsRequest.ListOffsetsTopic(name=state.tp.topic, partitions=[
                ListOffsetsRequest.ListOffsetsPartition(
                    partition_index=state.tp.partition,
                    current_leader_epoch=state.leader_epoch, timestamp=timestamp)])])
        response = await self._send(request, LIST_OFFSETS_VERSION, ListOffsetsResponse)
        for topic in response.topics:
            for p in topic.partitions:
                if p.partition_index != state.tp.partition or topic.name != state.tp.topic:
                    continue
                if p.error_code == ErrorCode.NONE and p.offset >= 0:
                    return p.offset
                if p.error_code == ErrorCode.FENCED_LEADER_EPOCH:
                    state.failed = True
                    return None
        self._delay((state,))
        return None


def _name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


def _run_deferred_io(logs: list[Log]) -> None:
    for plog in logs:
        plog.run_deferred_io()
