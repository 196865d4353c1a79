"""Fetch: whole batches straight from segment memory to the socket, long-polled by futures.

Each partition's records are a list of memoryviews over the segment files; the response
encoder passes them through by reference and the connection hands them to ``writelines``, so
the bytes are not copied in Python (docs/architecture.md, Rules). When less than ``min_bytes`` is available,
the request parks one future on the partitions it reads; the append that moves a high
watermark resolves it, and the fetch re-reads. ``max_wait_ms`` bounds the wait. Incremental
fetch sessions (KIP-227) live in ``brook.broker.fetch_session``.

A fetch naming a broker as its replica (``replica_state.replica_id`` from v15, the header-era
``replica_id`` before) is a follower's, served as Kafka's ``Partition.fetchRecords`` does for
one: the follower must be a replica of the partition and fetch at its registered broker epoch
(else NOT_LEADER_OR_FOLLOWER), at the current leader epoch when it names one; its
``last_fetched_epoch`` is checked against the leader-epoch cache and a divergence answered in
``diverging_epoch`` (KIP-320) with no records, so the follower truncates; it reads up to the
log end, not the high watermark; its fetch offset is its log end, which moves the high
watermark and may add it to the ISR; and its long poll waits for the log end to grow. A
follower outside the ISR of a partition whose topic throttles it on this leader
(``leader.replication.throttled.replicas``) gets no records while the leader replication
quota is exceeded (``brook.replication.replication_quota``).

Fetching from the closest replica (KIP-392, ``brook.replication.replica_selector``): a
consumer's fetch from v11 on may be served by any replica hosted here, leader or follower, at
its current leader epoch, up to that replica's high watermark; on a follower its long poll
waits for the high watermark the leader's answers bring. When ``replica.selector.class`` is
set, the leader asks it, for each partition, where the consumer (``rack_id``) should read,
and a follower's id goes back in ``preferred_read_replica`` with no records, answered at once.
Older consumers still read from leaders only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

from brook.broker.context import RequestContext
from brook.broker.fetch_session import FINAL_EPOCH, INITIAL_EPOCH, CachedPartition, FetchSession
from brook.broker.services import BrokerServices
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.replication.errors import OffsetOutOfRangeError
from brook.replication.partition import Partition
from brook.replication.replica_manager import LogSegment, ReplicaManager
from brook.replication.replica_selector import preferred_read_replica, replica_for_consumer
from brook.replication.replication_quota import ReplicationQuota, should_leader_throttle

API_KEY = ApiKey.FETCH
MIN_VERSION = 4
MAX_VERSION = 17
REQUEST = FetchRequest

_ZERO = b"\x00" * 16
PartitionData = FetchResponse.PartitionData
TopicResponse = FetchResponse.FetchableTopicResponse


@dataclass(slots=True)
class _Want:
    """One partition the fetch reads."""

    topic: str
    topic_id: bytes
    partition: int
    fetch_offset: int
    max_bytes: int
    part: Partition | None
    error: ErrorCode = ErrorCode.NONE
    cached: CachedPartition | None = None
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    log_start_offset: int = -1
    """A follower's log start (-1 unknown): where it could serve consumers from."""


def _resolve(node: BrokerServices, topic: str, topic_id: bytes, use_ids: bool) -> tuple[str, bytes, ErrorCode]:
    if use_ids:
        t = node.image.topics.by_id.get(topic_id)
        if t is None:
            return "", topic_id, ErrorCode.UNKNOWN_TOPIC_ID
        return t.name, topic_id, ErrorCode.NONE
    t = node.image.topics.by_name.get(topic)
    if t is None:
        return topic, _ZERO, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return topic, t.topic_id, ErrorCode.NONE


def _want(node: BrokerServices, name: str, topic_id: bytes, err: ErrorCode, partition: int,
          fetch_offset: int, max_bytes: int, plan: _Plan | None = None,
          current_leader_epoch: int = -1, last_fetched_epoch: int = -1,
          log_start_offset: int = -1) -> _Want:
    part = None
    replica = plan.replica_id if plan is not None else -1
    if err == ErrorCode.NONE:
        rm = node.replica_manager
        if plan is not None and plan.any_replica:
            found = _any_replica(node, name, partition, current_leader_epoch)
        else:
            found = rm.leader_partition(name, partition,
                                        current_leader_epoch if replica >= 0 else -1)
        if isinstance(found, ErrorCode):
            err = found
        elif replica >= 0 and replica not in found.replicas:
            err = ErrorCode.NOT_LEADER_OR_FOLLOWER  # Kafka: not in the replica set
        elif replica >= 0 and plan is not None and plan.epoch_error != ErrorCode.NONE:
            err = plan.epoch_error
        else:
            part = found
    return _Want(name, topic_id, partition, fetch_offset, max_bytes, part, err, None,
                 current_leader_epoch, last_fetched_epoch, log_start_offset)


def _any_replica(node: BrokerServices, name: str, partition: int,
                 current_leader_epoch: int) -> Partition | ErrorCode:
    part = node.replica_manager.get_partition(name, partition)
    if part is None:  # hosted elsewhere: stale metadata, as for the leader-only lookup
        return _not_hosted(node, name, partition)
    return replica_for_consumer(part, current_leader_epoch)


def _not_hosted(node: BrokerServices, name: str, partition: int) -> ErrorCode:
    """Kafka's answer for a partition this broker has no replica of: the client's metadata
    is stale if the cluster has it, else it does not exist."""
    topic = node.image.topics.by_name.get(name)
    return (ErrorCode.NOT_LEADER_OR_FOLLOWER if topic is not None and partition in topic.partitions
            else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)


class _Plan:
    """The partitions a request reads and the session state it uses."""

    def __init__(self) -> None:
        self.wants: list[_Want] = []
        self.session: FetchSession | None = None
        self.incremental = False
        self.error = ErrorCode.NONE
        self.session_id = 0
        self.updates: list[tuple[CachedPartition, int, int]] = []
        self.replica_id = -1
        """A follower's broker id (-1: a consumer's fetch)."""
        self.replica_epoch = -1
        self.epoch_error = ErrorCode.NONE
        self.record_fetch_state = False
        """Set for a follower's first read only: re-reads after a long poll do not move the
        follower's state (Kafka's ``readFromPurgatory``)."""
        self.any_replica = False
        """A consumer's fetch v11+: followers may serve it, leaders may redirect it."""
        self.client_rack = ""
        self.listener = ""
        self.throttled_bytes = 0
        """Bytes of throttled partitions the last read gives a follower: recorded against the
        leader's replication quota when the response is built (Kafka's
        ``sizeOfThrottledPartitions``)."""
        self.leader_quota: ReplicationQuota | None = None


def _plan(node: BrokerServices, request: FetchRequest, version: int) -> _Plan:
    plan = _Plan()
    if version >= 15:
        plan.replica_id = request.replica_state.replica_id
        plan.replica_epoch = request.replica_state.replica_epoch
    else:
        plan.replica_id = request.replica_id
    if plan.replica_id < 0:
        plan.replica_id = -1  # -1 a consumer; -2/-3 debug and future-log fetches, served alike
    else:
        plan.record_fetch_state = True
        plan.epoch_error = node.replica_manager.check_replica_epoch(
            plan.replica_id, plan.replica_epoch)
    plan.any_replica = plan.replica_id < 0 and version >= 11
    if plan.any_replica:
        plan.client_rack = request.rack_id
    use_ids = version >= 13
    cache = node.fetch_sessions
    session_id, epoch = request.session_id, request.session_epoch
    full = epoch in (INITIAL_EPOCH, FINAL_EPOCH)
    if version >= 7 and full and session_id != 0:
        # A full fetch closes the session it names, whether it exists or not: epoch 0 opens
        # a new one in its place (how a client recovers from a session error, or from a
        # broker restart that forgot its session), epoch -1 fetches without one.
        cache.remove(session_id)
    elif version >= 7 and not full:
        session = cache.get(session_id)
        if session is None:
            plan.error = ErrorCode.FETCH_SESSION_ID_NOT_FOUND
            return plan
        if session.epoch != epoch:
            plan.error = ErrorCode.INVALID_FETCH_SESSION_EPOCH
            return plan
        if session.uses_topic_ids != use_ids:
            # A client whose metadata lost its topic ids (rebootstrapped while the broker was
            # down) opens a session by name, then fetches by id: left as one session, the
            # names and the ids would key two entries for one partition, the stale one read
            # at an old offset (OFFSET_OUT_OF_RANGE once DeleteRecords passed it).
            plan.error = ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
            return plan
        _update_session(node, session, request, use_ids)
        session.epoch = session.next_epoch()
        plan.session, plan.incremental, plan.session_id = session, True, session_id
        for (name, index), cp in session.partitions.items():
            tname, tid, err = _resolve(node, name, cp.topic_id, use_ids)
            w = _want(node, tname or name, tid, err, index, cp.fetch_offset,
                      cp.partition_max_bytes, plan, cp.current_leader_epoch,
                      cp.last_fetched_epoch)
            w.cached = cp
            plan.wants.append(w)
        return plan
    for topic in request.topics:
        name, tid, err = _resolve(node, topic.topic, topic.topic_id, use_ids)
        for p in topic.partitions:
            plan.wants.append(
                _want(node, name, tid, err, p.partition, p.fetch_offset, p.partition_max_bytes,
                      plan, p.current_leader_epoch, p.last_fetched_epoch, p.log_start_offset)
            )
    if version >= 7 and epoch == INITIAL_EPOCH:
        cached = {}
        for w in plan.wants:
            key = (w.topic if not use_ids else w.topic_id.hex(), w.partition)
            w.cached = cached[key] = CachedPartition(
                w.topic_id, w.fetch_offset, w.max_bytes,
                current_leader_epoch=w.current_leader_epoch,
                last_fetched_epoch=w.last_fetched_epoch)
        session = cache.create(cached, use_ids)
        if session is not None:
            plan.session, plan.session_id = session, session.session_id
    return plan


def _update_session(node: BrokerServices, session: FetchSession, request: FetchRequest,
                    use_ids: bool) -> None:
    for topic in request.topics:
        for p in topic.partitions:
            key = (topic.topic_id.hex() if use_ids else topic.topic, p.partition)
            cp = session.partitions.get(key)
            if cp is None:
                tid = topic.topic_id if use_ids else _resolve(node, topic.topic, _ZERO, False)[1]
                session.partitions[key] = CachedPartition(
                    tid, p.fetch_offset, p.partition_max_bytes,
                    current_leader_epoch=p.current_leader_epoch,
                    last_fetched_epoch=p.last_fetched_epoch)
            else:
                cp.fetch_offset = p.fetch_offset
                cp.partition_max_bytes = p.partition_max_bytes
                cp.current_leader_epoch = p.current_leader_epoch
                cp.last_fetched_epoch = p.last_fetched_epoch
    for forgotten in request.forgotten_topics_data:
        for index in forgotten.partitions:
            key = (forgotten.topic_id.hex() if use_ids else forgotten.topic, index)
            session.partitions.pop(key, None)


def _read_all(node: BrokerServices, plan: _Plan, max_bytes: int, committed: bool) -> tuple[list[PartitionData], list[_Want], int]:
    rm = node.replica_manager
    plan.updates.clear()
    plan.throttled_bytes = 0
    out: list[PartitionData] = []
    kept: list[_Want] = []
    total = 0
    for w in plan.wants:
        part = w.part
        if part is None or w.error != ErrorCode.NONE:
            out.append(PartitionData(partition_index=w.partition, error_code=w.error,
                                     high_watermark=-1, last_stable_offset=-1,
                                     log_start_offset=-1, records=b""))
            kept.append(w)
            continue
        if part.removed:  # deleted or moved away while the fetch waited: answer at once
            out.append(PartitionData(partition_index=w.partition,
                                     error_code=_not_hosted(node, w.topic, w.partition),
                                     high_watermark=-1, last_stable_offset=-1,
                                     log_start_offset=-1, records=b""))
            kept.append(w)
            continue
        if plan.replica_id >= 0 and not part.is_leader:
            # Leadership moved while the follower's fetch waited: Kafka answers at once.
            out.append(_not_leader(w))
            kept.append(w)
            continue
        if plan.replica_id >= 0 and w.last_fetched_epoch >= 0:
            diverging = _diverging_epoch(part, w)
            if diverging is not None:
                out.append(diverging)
                kept.append(w)
                continue
        if rm.replica_selector is not None and plan.any_replica and part.is_leader:
            preferred = preferred_read_replica(
                rm.replica_selector, part, node.image, plan.listener, plan.client_rack,
                w.fetch_offset, node.clock.now_ms())
            if preferred >= 0:  # no read: the client fetches from that follower instead
                hw = part.high_watermark
                out.append(PartitionData(partition_index=w.partition, error_code=ErrorCode.NONE,
                                         high_watermark=hw, last_stable_offset=hw,
                                         log_start_offset=part.log_start_offset,
                                         preferred_read_replica=preferred, records=b""))
                kept.append(w)
                continue
        budget = min(w.max_bytes, max(max_bytes - total, 0))
        try:
            res = rm.read(part, w.fetch_offset, budget, total == 0, committed)
        except OffsetOutOfRangeError:
            out.append(PartitionData(partition_index=w.partition,
                                     error_code=ErrorCode.OFFSET_OUT_OF_RANGE,
                                     high_watermark=part.high_watermark,
                                     last_stable_offset=part.high_watermark,
                                     log_start_offset=part.log_start_offset, records=b""))
            kept.append(w)
            continue
        if plan.record_fetch_state and not _record_fetch(rm, plan, part, w, res.log_end_offset):
            out.append(_not_leader(w))
            kept.append(w)
            continue
        if plan.replica_id >= 0 and res.size and (quota := rm.quotas.leader).is_throttled(part):
            # A throttled replica catching up gets no records while the quota is exceeded.
            if should_leader_throttle(quota, part, plan.replica_id):
                res.chunks, res.size = [], 0
            else:
                plan.throttled_bytes += res.size
                plan.leader_quota = quota
        total += res.size
        cp = w.cached
        if plan.incremental and cp is not None and res.size == 0 and (
            cp.high_watermark == res.high_watermark
            and cp.log_start_offset == res.log_start_offset
        ):
            continue  # nothing new for this partition: an incremental response omits it
        if cp is not None:
            plan.updates.append((cp, res.high_watermark, res.log_start_offset))
        out.append(PartitionData(partition_index=w.partition, error_code=ErrorCode.NONE,
                                 high_watermark=res.high_watermark,
                                 last_stable_offset=res.high_watermark,
                                 log_start_offset=res.log_start_offset,
                                 aborted_transactions=None if committed else [],
                                 records=cast(Any, res.chunks) if res.chunks else b""))
        kept.append(w)
    return out, kept, total


def _record_fetch(rm: ReplicaManager, plan: _Plan, part: Partition, w: _Want, end: int) -> bool:
    """The follower's fetch offset is its log end: record it against the leader's end at
    the time of the read (Kafka's ``updateFollowerFetchState``). False: this broker no
    longer takes the follower's fetches (not the leader, or not a replica at that epoch),
    and the records read must not be sent."""
    if not rm.record_follower_fetch(part, plan.replica_id, plan.replica_epoch, w.fetch_offset,
                                    end):
        w.error = ErrorCode.NOT_LEADER_OR_FOLLOWER
        return False
    if (state := part.remote.get(plan.replica_id)) is not None:
        state.log_start_offset = w.log_start_offset
    return True


def _not_leader(w: _Want) -> PartitionData:
    return PartitionData(partition_index=w.partition,
                         error_code=ErrorCode.NOT_LEADER_OR_FOLLOWER, high_watermark=-1,
                         last_stable_offset=-1, log_start_offset=-1, records=b"")


def _diverging_epoch(part: Partition, w: _Want) -> PartitionData | None:
    """KIP-320: a follower whose last fetched epoch ends, in this leader's log, before its
    fetch offset has a divergent tail; the answer names the epoch and end offset it must
    truncate to, with no records. An epoch unknown here, or an offset below the log start,
    is OFFSET_OUT_OF_RANGE (Kafka's ``Partition.readRecords``)."""
    epoch, end_offset = part.end_offset_for_epoch(w.last_fetched_epoch)
    hw = part.high_watermark
    if epoch < 0 or end_offset < 0 or w.fetch_offset < part.log_start_offset:
        return PartitionData(partition_index=w.partition,
                             error_code=ErrorCode.OFFSET_OUT_OF_RANGE, high_watermark=hw,
                             last_stable_offset=hw, log_start_offset=part.log_start_offset,
                             records=b"")
    if end_offset < w.fetch_offset or epoch < w.last_fetched_epoch:
        return PartitionData(partition_index=w.partition, error_code=ErrorCode.NONE,
                             high_watermark=hw, last_stable_offset=hw,
                             log_start_offset=part.log_start_offset,
                             diverging_epoch=FetchResponse.EpochEndOffset(epoch, end_offset),
                             records=b"")
    return None


def _response(plan: _Plan, datas: list[PartitionData], wants: list[_Want]) -> FetchResponse:
    if plan.throttled_bytes and plan.leader_quota is not None:
        plan.leader_quota.record(plan.throttled_bytes)
    for cp, hw, lso in plan.updates:
        cp.high_watermark = hw
        cp.log_start_offset = lso
    topics: list[TopicResponse] = []
    last_key: tuple[str, bytes] | None = None
    for data, w in zip(datas, wants, strict=True):
        key = (w.topic, w.topic_id)
        if key != last_key:
            topics.append(TopicResponse(topic=w.topic, topic_id=w.topic_id, partitions=[]))
            last_key = key
        topics[-1].partitions.append(data)
    return FetchResponse(throttle_time_ms=0, error_code=ErrorCode.NONE,
                         session_id=plan.session_id, responses=topics)


def handle(ctx: RequestContext, request: FetchRequest) -> FetchResponse | Awaitable[FetchResponse]:
    node = ctx.services
    version = ctx.api_version
    plan = _plan(node, request, version)
    plan.listener = ctx.listener_name
    if plan.error != ErrorCode.NONE:
        return FetchResponse(throttle_time_ms=0, error_code=plan.error, session_id=0,
                             responses=[])
    rm = node.replica_manager
    cold = [s for w in plan.wants if w.part is not None
            for s in rm.cold_segments(w.part, w.fetch_offset)]
    if cold:  # old segments' indexes are read in a worker thread, not on the loop
        return _after_loading(node, plan, request, version, cold)
    return _respond(node, plan, request, version)


async def _after_loading(node: BrokerServices, plan: _Plan, request: FetchRequest, version: int,
                         cold: list[LogSegment]) -> FetchResponse:
    await node.replica_manager.load_indexes(cold)
    return await _as_awaitable(_respond(node, plan, request, version))


async def _as_awaitable(result: FetchResponse | Awaitable[FetchResponse]) -> FetchResponse:
    return await result if not isinstance(result, FetchResponse) else result


def _respond(node: BrokerServices, plan: _Plan, request: FetchRequest,
             version: int) -> FetchResponse | Awaitable[FetchResponse]:
    # Consumers read up to the high watermark (no transactions yet: LSO == HW); followers
    # up to the log end.
    committed = plan.replica_id < 0
    max_bytes = request.max_bytes if version >= 3 else 0x7FFFFFFF
    datas, wants, total = _read_all(node, plan, max_bytes, committed)
    plan.record_fetch_state = False
    has_error = any(d.error_code != ErrorCode.NONE or d.preferred_read_replica >= 0
                    for d in datas)  # an error or a redirection: answered at once
    if request.max_wait_ms <= 0 or total >= request.min_bytes or has_error or not plan.wants:
        return _response(plan, datas, wants)
    return _long_poll(node, plan, request, max_bytes, committed)


async def _long_poll(node: BrokerServices, plan: _Plan, request: FetchRequest, max_bytes: int,
                     committed: bool) -> FetchResponse:
    clock = node.clock  # the broker's clock: a time jump ends the wait, as elapsed time would
    deadline = clock.monotonic() + request.max_wait_ms / 1000.0
    parts = [w.part for w in plan.wants if w.part is not None]
    follower = plan.replica_id >= 0
    while True:
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        fut = node.replica_manager.wait_for_data(parts, follower)
        try:
            with contextlib.suppress(TimeoutError):
                await clock.wait_for(fut, remaining)
        finally:
            for p in parts:
                p.discard_waiter(fut, follower)
        datas, wants, total = _read_all(node, plan, max_bytes, committed)
        if total >= request.min_bytes or any(
                d.error_code != ErrorCode.NONE or d.preferred_read_replica >= 0 for d in datas):
            return _response(plan, datas, wants)
    datas, wants, _ = _read_all(node, plan, max_bytes, committed)
    return _response(plan, datas, wants)
