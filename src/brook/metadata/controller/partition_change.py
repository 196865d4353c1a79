"""Leader and ISR changes the controller decides: Kafka's ``PartitionChangeBuilder`` semantics.

Pure functions of the current image; they return ``PartitionChangeRecord``s and never write.

- A broker that is **fenced** (its lease lapsed) or **unregisters** leaves every ISR it is in,
  except that an ISR never becomes empty: its last member stays, so the controller remembers
  which replica holds every acknowledged record. A partition it led gets a new leader from the
  remaining ISR, in assignment order, among *acceptable* brokers (registered, unfenced, not in
  controlled shutdown); with none the partition goes offline (leader -1) unless unclean leader
  election is enabled for its topic, when the first acceptable replica leads with ISR = [it].
- A broker that is **unfenced** leads the offline partitions whose ISR holds it. It does not
  rejoin ISRs here: the leader adds it through AlterPartition once it has caught up.
- **Controlled shutdown** is a fence in advance: the broker leaves ISRs and its leaderships move
  to the other ISR members, so producers and consumers follow the new leaders before it exits.
- **Preferred** election moves leadership back to the first replica when it is acceptable and
  in the ISR; **unclean** election gives an offline partition any acceptable replica.

The leader epoch changes only with the leader (the record's ``leader`` field is left at -2,
"no change", otherwise), as Kafka does since 3.6 for an ISR shrink; the partition epoch grows
with every change (``metadata.delta``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from brook.metadata.image import RESOURCE_TOPIC, MetadataImage, PartitionRegistration, TopicImage
from brook.protocol.errors import ErrorCode
from brook.protocol.metadata_records.partition_change_record import PartitionChangeRecord

__all__ = [
    "NO_LEADER",
    "Election",
    "ElectionResult",
    "acceptable_leaders",
    "elect",
    "partitions_led_by",
    "plan_broker_fenced",
    "plan_broker_unfenced",
    "plan_controlled_shutdown",
    "plan_elections",
    "plan_leader_rebalance",
    "unclean_enabled",
]

NO_LEADER = -1
_NO_CHANGE = -2
UNCLEAN_KEY = "unclean.leader.election.enable"


class Election(IntEnum):
    """What a change may elect (Kafka's ``PartitionChangeBuilder.Election`` and the
    ElectLeaders ``ElectionType``: 0 preferred, 1 unclean)."""

    PREFERRED = 0
    UNCLEAN = 1
    ONLINE = 2
    """Keep an acceptable leader; otherwise any acceptable ISR member (no request type)."""


@dataclass(frozen=True, slots=True)
class ElectionResult:
    """One partition's answer to an ElectLeaders request."""

    topic: str
    partition: int
    error: ErrorCode
    message: str | None


def acceptable_leaders(image: MetadataImage, excluded: Collection[int] = ()) -> frozenset[int]:
    """Brokers that may lead: registered, unfenced, and not ``excluded`` (being fenced,
    removed, or in controlled shutdown)."""
    return frozenset(
        b.broker_id for b in image.cluster.brokers.values()
        if not b.fenced and b.broker_id not in excluded
    )


def unclean_enabled(image: MetadataImage, topic: str, broker_default: bool) -> bool:
    """The topic's ``unclean.leader.election.enable``, else the broker default."""
    value = image.configs.resources.get((RESOURCE_TOPIC, topic), {}).get(UNCLEAN_KEY)
    if value is None:
        return broker_default
    return value.strip().lower() == "true"


def elect(part: PartitionRegistration, isr: Sequence[int], acceptable: Collection[int],
           election: Election, unclean: bool) -> tuple[int, list[int]]:
    """``(leader, isr)`` after an election over ``isr`` (Kafka's ``electLeader``)."""
    replicas = part.replicas
    if election == Election.PREFERRED and replicas:
        preferred = replicas[0]
        if preferred in isr and preferred in acceptable:
            return preferred, list(isr)
    if part.leader in isr and part.leader in acceptable:
        return part.leader, list(isr)
    for replica in replicas:
        if replica in isr and replica in acceptable:
            return replica, list(isr)
    if unclean or election == Election.UNCLEAN:
        for replica in replicas:
            if replica in acceptable:
                return replica, [replica]
    return NO_LEADER, list(isr)


def _change(topic_id: bytes, index: int, part: PartitionRegistration, leader: int,
            isr: list[int]) -> PartitionChangeRecord | None:
    """The record taking ``part`` to ``(leader, isr)``; None if that is where it is."""
    leader_changed = leader != part.leader
    isr_changed = tuple(isr) != part.isr
    if not leader_changed and not isr_changed:
        return None
    return PartitionChangeRecord(
        partition_id=index, topic_id=topic_id,
        leader=leader if leader_changed else _NO_CHANGE,
        isr=list(isr) if isr_changed else None,
    )


def _partitions(image: MetadataImage) -> Iterator[tuple[TopicImage, int, PartitionRegistration]]:
    for topic in image.topics.by_id.values():
        for index in sorted(topic.partitions):
            yield topic, index, topic.partitions[index]


def _without(part: PartitionRegistration, broker_id: int) -> list[int]:
    """The ISR without ``broker_id``, unless it is the last member: an ISR never empties."""
    isr = [r for r in part.isr if r != broker_id]
    return isr if isr else list(part.isr)


def _remove_broker(image: MetadataImage, broker_id: int, acceptable: Collection[int],
                   unclean_default: bool, allow_unclean: bool) -> list[PartitionChangeRecord]:
    records = []
    for topic, index, part in _partitions(image):
        if broker_id not in part.isr and part.leader != broker_id:
            continue
        unclean = allow_unclean and unclean_enabled(image, topic.name, unclean_default)
        leader, isr = elect(part, _without(part, broker_id), acceptable, Election.ONLINE,
                             unclean)
        record = _change(topic.topic_id, index, part, leader, isr)
        if record is not None:
            records.append(record)
    return records


def plan_broker_fenced(image: MetadataImage, broker_id: int, unclean_default: bool = False,
                       shutting_down: Collection[int] = ()) -> list[PartitionChangeRecord]:
    """A broker fenced or unregistered: it leaves the ISRs, its partitions get new leaders."""
    acceptable = acceptable_leaders(image, {broker_id, *shutting_down})
    return _remove_broker(image, broker_id, acceptable, unclean_default, allow_unclean=True)


def plan_controlled_shutdown(image: MetadataImage, broker_id: int,
                             shutting_down: Collection[int] = ()) -> list[PartitionChangeRecord]:
    """A broker about to stop: as fenced, but never by an unclean election (it still holds
    its data and comes back; a partition it alone has in sync waits for it)."""
    acceptable = acceptable_leaders(image, {broker_id, *shutting_down})
    return _remove_broker(image, broker_id, acceptable, False, allow_unclean=False)


def plan_broker_unfenced(image: MetadataImage, broker_id: int, unclean_default: bool = False,
                         shutting_down: Collection[int] = ()) -> list[PartitionChangeRecord]:
    """Offline partitions get a leader now that ``broker_id`` is back (Kafka's
    ``handleBrokerUnfenced`` runs an election over every leaderless partition)."""
    acceptable = acceptable_leaders(image, shutting_down) | ({broker_id} - set(shutting_down))
    records = []
    for topic, index, part in _partitions(image):
        if part.leader != NO_LEADER:
            continue
        unclean = unclean_enabled(image, topic.name, unclean_default)
        leader, isr = elect(part, part.isr, acceptable, Election.ONLINE, unclean)
        record = _change(topic.topic_id, index, part, leader, isr)
        if record is not None:
            records.append(record)
    return records


def partitions_led_by(image: MetadataImage, broker_id: int) -> int:
    return sum(1 for _, _, part in _partitions(image) if part.leader == broker_id)


def _elect_one(image: MetadataImage, topic: TopicImage, index: int, election: Election,
               acceptable: Collection[int]) -> tuple[ErrorCode, PartitionChangeRecord | None]:
    """Kafka's ``ReplicationControlManager.electLeader`` for one partition."""
    part = topic.partitions[index]
    has_preferred = bool(part.replicas) and part.leader == part.replicas[0]
    if ((election == Election.PREFERRED and has_preferred)
            or (election == Election.UNCLEAN and part.leader != NO_LEADER)):
        return ErrorCode.ELECTION_NOT_NEEDED, None
    leader, isr = elect(part, part.isr, acceptable, election, False)
    record = _change(topic.topic_id, index, part, leader, isr)
    if record is None:
        return (ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE if election == Election.PREFERRED
                else ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE), None
    return ErrorCode.NONE, record


def plan_elections(image: MetadataImage, election: Election,
                   targets: Sequence[tuple[str, int]] | None,
                   shutting_down: Collection[int] = (),
                   ) -> tuple[list[ElectionResult], list[PartitionChangeRecord]]:
    """An ElectLeaders request: a result per partition and the records of the elections that
    succeed. ``targets`` None means every partition, and then the partitions that need no
    election are left out of the answer, as Kafka does."""
    acceptable = acceptable_leaders(image, shutting_down)
    results: list[ElectionResult] = []
    records: list[PartitionChangeRecord] = []
    if targets is None:
        pairs = [(t.name, i) for t, i, _ in _partitions(image)]
    else:
        pairs = list(targets)
    seen: set[tuple[str, int]] = set()
    for name, index in pairs:
        topic = image.topics.by_name.get(name)
        if topic is None or index not in topic.partitions:
            results.append(ElectionResult(
                name, index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                f"No such topic as {name}" if topic is None
                else f"No such partition as {name}-{index}"))
            continue
        error, record = _elect_one(image, topic, index, election, acceptable)
        if targets is None and error == ErrorCode.ELECTION_NOT_NEEDED:
            continue
        if record is not None and (name, index) not in seen:
            records.append(record)
            seen.add((name, index))
        results.append(ElectionResult(name, index, error,
                                      None if error == ErrorCode.NONE else error.message))
    return results, records


def plan_leader_rebalance(image: MetadataImage, percentage: int,
                          shutting_down: Collection[int] = ()) -> list[PartitionChangeRecord]:
    """Kafka's auto leader rebalance: a broker that is the preferred replica of partitions
    it does not lead, for more than ``percentage`` % of the partitions it is preferred for,
    gets them back by preferred elections (those whose preferred replica is acceptable and in
    the ISR; the rest wait for the next check)."""
    acceptable = acceptable_leaders(image, shutting_down)
    preferred: dict[int, list[tuple[TopicImage, int, PartitionRegistration]]] = {}
    totals: dict[int, int] = {}
    for topic, index, part in _partitions(image):
        if not part.replicas:
            continue
        first = part.replicas[0]
        totals[first] = totals.get(first, 0) + 1
        if part.leader != first:
            preferred.setdefault(first, []).append((topic, index, part))
    records = []
    for broker_id, imbalanced in sorted(preferred.items()):
        if broker_id not in acceptable:
            continue
        if len(imbalanced) * 100 <= percentage * totals[broker_id]:
            continue
        for topic, index, part in imbalanced:
            leader, isr = elect(part, part.isr, acceptable, Election.PREFERRED, False)
            if leader == broker_id:
                record = _change(topic.topic_id, index, part, leader, isr)
                if record is not None:
                    records.append(record)
    return records
