"""What a metadata change means for the partitions this broker hosts.

Kafka's ``TopicsDelta.localChanges``: from the topics a change touched, the hosted partitions
to stop and delete, the partitions this broker now hosts and has no replica of yet, and the
hosted partitions whose registration changed. A hosted partition is deleted here when

* its topic was deleted (the delta names it);
* the registration no longer lists this broker among the replicas: a reassignment
  (AlterPartitionReassignments) moved the replica away. Kafka stops such a replica, removes
  its fetcher and deletes its log; one left behind would keep fetching from the leader with a
  stale registration, and its directory would stay on disk for ever;
* the topic of that name now has another topic id: an earlier topic of the name, deleted and
  re-created without this broker seeing the deletion as such. Its records must never be
  served as the new topic's (Kafka compares the topic id in ``partition.metadata`` the same
  way at start-up).

Pure: it reads the image and the hosted partitions and changes nothing, so the replica
manager applies the result in the order it needs (stop and delete before a new log of the same
name is created).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from brook.metadata.image import PartitionRegistration, TopicImage
from brook.replication.partition import Partition

__all__ = ["LocalChanges", "local_changes"]


@dataclass(slots=True)
class LocalChanges:
    deletes: list[Partition] = field(default_factory=list)
    """Hosted partitions that left this broker (their logs are to be deleted)."""
    creates: list[tuple[TopicImage, int, PartitionRegistration]] = field(default_factory=list)
    """Partitions placed here that have no replica on this broker yet."""
    updates: list[tuple[Partition, PartitionRegistration]] = field(default_factory=list)
    """Hosted partitions whose leader, epochs, replicas or ISR changed."""


def local_changes(
    node_id: int,
    topics: Iterable[TopicImage],
    hosted: Mapping[str, Sequence[Partition]],
    deleted_topics: Iterable[str] = (),
) -> LocalChanges:
    """The changes to apply for ``topics`` (those the metadata change touched, or every topic
    at start-up) and ``deleted_topics``, given the ``hosted`` partitions by topic name."""
    changes = LocalChanges()
    deleted = set(deleted_topics)
    for name in deleted:
        changes.deletes.extend(hosted.get(name, ()))
    for topic in topics:
        current: dict[int, Partition] = {}
        # A topic deleted and re-created in one change: its old partitions are deleted above.
        for part in () if topic.name in deleted else hosted.get(topic.name, ()):
            reg = topic.partitions.get(part.tp.partition)
            if part.topic_id != topic.topic_id or reg is None or node_id not in reg.replicas:
                changes.deletes.append(part)
            else:
                current[part.tp.partition] = part
        for index, reg in topic.partitions.items():
            if node_id not in reg.replicas:
                continue
            existing = current.get(index)
            if existing is None:
                changes.creates.append((topic, index, reg))
            elif (reg.leader, reg.leader_epoch, reg.partition_epoch) != (
                existing.leader, existing.leader_epoch, existing.partition_epoch
            ) or (reg.replicas, reg.isr) != (existing.replicas, existing.isr):
                changes.updates.append((existing, reg))
    return changes
