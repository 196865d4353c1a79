"""What a client saw, and the rules it must obey, for crash tests of a real broker.

A ``History`` collects three kinds of events while a workload runs against a broker that is
killed and restarted: acknowledgements of produced records (``acked``), records read back
(``observed``, from any read at any time), and group offset commits that succeeded
(``commit_acked``) or were fetched back (``commit_seen``). ``violations()`` then checks:

* every acknowledged record is in the final read at the offset it was acknowledged with;
* no record appears twice in a partition, and each producer's records are in send order;
* no offset ever held two different records across all observations (no offset reuse, no
  record changed behind a reader's back), and no record a reader saw is missing from the
  final read (a reader was never served an uncommitted tail that was truncated later);
* committed offsets never go backwards and are never lost: every fetch of a group's offset is
  at least every commit acknowledged before it, and at least every earlier fetch.

Records are identified by their value, ``b"<producer>:<sequence>"``, unique per workload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History", "record_value"]

Partition = tuple[str, int]


def record_value(producer: int, sequence: int) -> bytes:
    return b"%d:%d" % (producer, sequence)


def _parse(value: bytes) -> tuple[int, int]:
    producer, _, sequence = value.partition(b":")
    return int(producer), int(sequence)


@dataclass
class History:
    acked: dict[bytes, tuple[Partition, int]] = field(default_factory=dict)
    """value -> (partition, offset) from the producer's delivery report."""
    seen: dict[tuple[Partition, int], bytes] = field(default_factory=dict)
    """(partition, offset) -> value, first observation."""
    conflicts: list[str] = field(default_factory=list)
    commits_acked: dict[Partition, int] = field(default_factory=dict)
    """Highest offset each partition's commit was acknowledged with so far."""
    commits_seen: dict[Partition, int] = field(default_factory=dict)
    commit_problems: list[str] = field(default_factory=list)
    final: dict[Partition, list[tuple[int, bytes]]] = field(default_factory=dict)
    observations: int = 0
    unacknowledged: int = 0
    """Records the producers gave up on (their outcome is unknown: they may be in the log)."""
    stalled_cycles: int = 0
    """Broker incarnations in which the producers got no acknowledgement within 30 s."""
    fatal_errors: list[str] = field(default_factory=list)
    """Fatal producer errors: an idempotent producer must never need one after a restart."""

    # -- events ------------------------------------------------------------------------------

    def ack(self, value: bytes, partition: Partition, offset: int) -> None:
        previous = self.acked.get(value)
        if previous is not None and previous != (partition, offset):
            self.conflicts.append(f"{value!r} acknowledged twice: at {previous} and "
                                  f"{(partition, offset)}")
        self.acked[value] = (partition, offset)

    def observe(self, partition: Partition, offset: int, value: bytes, when: str) -> None:
        self.observations += 1
        key = (partition, offset)
        first = self.seen.setdefault(key, value)
        if first != value:
            self.conflicts.append(
                f"{partition[0]}-{partition[1]}@{offset} held {first!r}, then {value!r} ({when})")

    def commit_acked(self, partition: Partition, offset: int) -> None:
        self.commits_acked[partition] = max(offset, self.commits_acked.get(partition, -1))

    def commit_floor(self, partition: Partition) -> int:
        """The least a fetch of ``partition``'s committed offset sent now may return."""
        return max(self.commits_acked.get(partition, -1), self.commits_seen.get(partition, -1))

    def commit_seen(self, partition: Partition, offset: int, when: str,
                    floor: int | None = None) -> None:
        """A fetched committed offset. With several clients at once, pass the
        :meth:`commit_floor` taken when the fetch was *sent*: a commit acknowledged while the
        fetch was on its way may or may not be in its answer."""
        if floor is None:
            floor = self.commit_floor(partition)
        if offset < floor:
            self.commit_problems.append(
                f"{partition[0]}-{partition[1]} committed offset {offset} < {floor} ({when})")
        self.commits_seen[partition] = max(offset, self.commits_seen.get(partition, -1))

    def final_read(self, partition: Partition, records: list[tuple[int, bytes]]) -> None:
        self.final[partition] = records
        for offset, value in records:
            self.observe(partition, offset, value, "final read")

    # -- checking ----------------------------------------------------------------------------

    def violations(self) -> list[str]:
        out = list(self.conflicts) + list(self.commit_problems) + list(self.fatal_errors)
        where: dict[bytes, tuple[Partition, int]] = {}
        for partition, records in self.final.items():
            offsets = [o for o, _ in records]
            if offsets != sorted(set(offsets)):
                out.append(f"{partition}: offsets out of order or repeated in one read")
            last_seq: dict[int, int] = {}
            for offset, value in records:
                if value in where:
                    out.append(f"{value!r} twice: at {where[value]} and {(partition, offset)}")
                where[value] = (partition, offset)
                producer, sequence = _parse(value)
                if sequence <= last_seq.get(producer, -1):
                    out.append(f"{partition}: producer {producer} record {sequence} at {offset} "
                               f"after its record {last_seq[producer]}")
                last_seq[producer] = sequence
        out.extend(self._vanished()[:20])
        lost = [(v, at) for v, at in self.acked.items() if where.get(v) != at]
        for value, at in lost[:20]:
            out.append(f"acknowledged {value!r} at {at} is {where.get(value, 'missing')} "
                       f"in the final read")
        if len(lost) > 20:
            out.append(f"... {len(lost)} acknowledged records lost or moved in all")
        return out

    def _vanished(self) -> list[str]:
        """Records a reader saw that the final read no longer has: a consumer was served
        what was never committed (an unreplicated tail later truncated), even if nothing
        was written at that offset again. Offsets below the final read's first are left
        alone (retention or DeleteRecords may have removed them)."""
        final_offsets = {p: {o for o, _ in records} for p, records in self.final.items()}
        out = []
        for (partition, offset), value in sorted(self.seen.items()):
            offsets = final_offsets.get(partition)
            if offsets is None:
                continue
            if offset >= min(offsets, default=0) and offset not in offsets:
                out.append(f"{partition[0]}-{partition[1]}@{offset} was read ({value!r}) but "
                           "is not in the final read")
        return out

    def summary(self) -> str:
        records = sum(len(r) for r in self.final.values())
        return (f"{len(self.acked)} acknowledged, {self.unacknowledged} not, "
                f"{self.stalled_cycles} stalled cycles, "
                f"{records} in the final read, "
                f"{self.observations} observations, {len(self.commits_acked)} partitions with "
                f"acknowledged commits (highest {sorted(self.commits_acked.values())})")
