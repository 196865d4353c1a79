"""Fetch from the closest replica (KIP-392): which replica a consumer should read from.

A consumer that names its rack (Fetch v11+ ``rack_id``, librdkafka's and the Java client's
``client.rack``) may read a partition from a follower in its own availability zone instead of
crossing zones to the leader. The leader decides: for each consumer fetch it asks the
configured selector (``replica.selector.class``) and, when the answer is a follower, replies
with ``preferred_read_replica`` and no records; the client then fetches from that follower,
which serves it up to its own high watermark (``replica_for_consumer``).

Kafka loads the selector class a configuration names. brook never loads code a configuration
names: ``replica.selector.class`` picks one of a fixed table of built-in selectors, keyed by
Kafka's class names so a ``server.properties`` written for Kafka works unchanged.

Candidates, as Kafka's ``ReplicaManager.findPreferredReadReplica`` chooses them: the leader,
and each follower that is in the ISR, whose log holds the fetch offset (its log end at or past
it, its log start at or before it, as its last fetch reported) and that advertises the
listener the consumer came in on. A follower outside the ISR may lag without bound, so it is
never proposed.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from brook.metadata.image import MetadataImage
from brook.protocol.errors import ErrorCode
from brook.replication.partition import Partition

__all__ = [
    "LEADER_SELECTOR",
    "RACK_AWARE_SELECTOR",
    "SELECTORS",
    "LeaderSelector",
    "RackAwareReplicaSelector",
    "ReplicaSelector",
    "ReplicaView",
    "preferred_read_replica",
    "replica_for_consumer",
    "replica_selector",
]

RACK_AWARE_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
LEADER_SELECTOR = "org.apache.kafka.common.replica.LeaderSelector"


@dataclass(frozen=True, slots=True)
class ReplicaView:
    """One candidate replica (Kafka's ``ReplicaView``): the leader's time since it caught up
    is 0."""

    broker_id: int
    rack: str | None
    log_end_offset: int
    time_since_last_caught_up_ms: int

    def rank(self) -> tuple[int, int, int]:
        """Kafka's ``ReplicaView.comparator()``: the most caught-up sorts highest (largest
        log end, then most recently caught up, then largest broker id)."""
        return (self.log_end_offset, -self.time_since_last_caught_up_ms, self.broker_id)


class ReplicaSelector(typing.Protocol):
    """Kafka's ``ReplicaSelector.select``: the replica a client should read from."""

    def select(self, client_rack: str, leader: ReplicaView,
               replicas: Sequence[ReplicaView]) -> ReplicaView | None: ...


class LeaderSelector:
    """Always the leader: what a broker does without a selector."""

    def select(self, client_rack: str, leader: ReplicaView,
               replicas: Sequence[ReplicaView]) -> ReplicaView | None:
        return leader


class RackAwareReplicaSelector:
    """The leader when the client names no rack, when no candidate is in its rack, or when
    the leader is; otherwise the most caught-up candidate in the client's rack."""

    def select(self, client_rack: str, leader: ReplicaView,
               replicas: Sequence[ReplicaView]) -> ReplicaView | None:
        if not client_rack:
            return leader
        same_rack = [r for r in replicas if r.rack == client_rack]
        if not same_rack or leader in same_rack:
            return leader
        return max(same_rack, key=ReplicaView.rank)


SELECTORS: Mapping[str, type[LeaderSelector] | type[RackAwareReplicaSelector]] = {
    RACK_AWARE_SELECTOR: RackAwareReplicaSelector,
    LEADER_SELECTOR: LeaderSelector,
}
"""The only selectors ``replica.selector.class`` may name."""


def replica_selector(props: Mapping[str, str]) -> ReplicaSelector | None:
    """The selector ``replica.selector.class`` names (None: unset, consumers read from
    leaders only). The broker's configuration check refuses any other name at start-up."""
    name = (props.get("replica.selector.class") or "").strip()
    if not name:
        return None
    cls = SELECTORS.get(name)
    if cls is None:
        raise ValueError(f"replica.selector.class: {name!r} must be one of "
                         f"{', '.join(SELECTORS)}")
    return cls()


def preferred_read_replica(
    selector: ReplicaSelector, part: Partition, image: MetadataImage, listener_name: str,
    client_rack: str, fetch_offset: int, now_ms: int,
) -> int:
    """The follower a consumer fetching ``fetch_offset`` should read from, or -1 (the
    leader itself, or no selector answer): Kafka's ``findPreferredReadReplica``, asked on the
    leader only."""
    brokers = image.cluster.brokers
    me = brokers.get(part.node_id)
    if me is None or me.endpoint(listener_name) is None:
        return -1
    leader = ReplicaView(part.node_id, me.rack, part.log.log_end_offset, 0)
    candidates = [leader]
    isr = part.isr
    for broker_id, state in part.remote.items():
        if broker_id not in isr:
            continue
        if not (state.log_end_offset >= fetch_offset >= state.log_start_offset):
            continue
        reg = brokers.get(broker_id)
        if reg is None or reg.fenced or reg.endpoint(listener_name) is None:
            continue
        candidates.append(ReplicaView(broker_id, reg.rack, state.log_end_offset,
                                      max(now_ms - state.last_caught_up_time_ms, 0)))
    chosen = selector.select(client_rack, leader, candidates)
    if chosen is None or chosen == leader:
        return -1
    return chosen.broker_id


def replica_for_consumer(part: Partition, current_leader_epoch: int) -> Partition | ErrorCode:
    """A hosted replica a consumer's fetch (v11+) may read, leader or follower (Kafka's
    ``getLocalLog`` with ``requireLeader`` false): still a replica here, and the client's
    ``current_leader_epoch`` matching this replica's view (older: FENCED_LEADER_EPOCH, newer:
    UNKNOWN_LEADER_EPOCH; -1 unchecked)."""
    if part.node_id not in part.replicas:
        return ErrorCode.NOT_LEADER_OR_FOLLOWER
    error = part.check_leader_epoch(current_leader_epoch)
    if error != ErrorCode.NONE:
        return error
    return part
