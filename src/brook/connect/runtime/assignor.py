"""Which worker runs which connector and task: Kafka Connect's round-robin assignment.

Every worker computes the assignment itself from two inputs all workers agree on once the
group is stable: the sorted ids of the live workers (from the worker group) and the connectors
with their committed task counts (from the config topic). A pure function of those inputs needs
no leader to hand out assignments, so there is nothing to forward and no assignment to lose
when the leader dies.

As in Kafka Connect's eager ``RoundRobinAssignor``, one circular iterator over the sorted
workers deals first the sorted connectors, then the tasks sorted by (connector, task id), so
connectors and tasks are spread evenly. Workers are ordered by worker id (the REST
``host:port``), not by group member id: a worker restarted on the same address gets its old
share back, and its statuses in the status topic still name it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import cycle

TaskId = tuple[str, int]


@dataclass
class WorkerAssignment:
    connectors: list[str] = field(default_factory=list)
    tasks: list[TaskId] = field(default_factory=list)


def assign(workers: Sequence[str], task_counts: Mapping[str, int]) -> dict[str, WorkerAssignment]:
    """Deal connectors, then tasks, round-robin over the sorted, de-duplicated ``workers``.

    ``task_counts`` maps every connector to its number of tasks (0 for a stopped connector or
    one whose tasks are not committed yet). Every worker gets an entry, possibly empty.
    """
    members = sorted(set(workers))
    out = {w: WorkerAssignment() for w in members}
    if not members:
        return out
    turn = cycle(members)
    names = sorted(task_counts)
    for name in names:
        out[next(turn)].connectors.append(name)
    for name in names:
        for task in range(task_counts[name]):
            out[next(turn)].tasks.append((name, task))
    return out


def owners(assignment: Mapping[str, WorkerAssignment]) -> dict[str | TaskId, str]:
    """Invert an assignment: connector name or task id -> worker id."""
    inverse: dict[str | TaskId, str] = {}
    for worker, a in assignment.items():
        for name in a.connectors:
            inverse[name] = worker
        for task in a.tasks:
            inverse[task] = worker
    return inverse
