"""The fenced metadata log and the controller election in memory, for simulation.

The same contract as the etcd pair (:mod:`brook.raft.etcd_log`, :mod:`brook.raft.etcd_election`)
— linearizable fenced appends, at most one current epoch, leases that expire on the clock — so
the controller's logic can run under the virtual-time loop with seeded schedules of deaths,
pauses and lease expiries, thousands of times faster than against a real etcd. One
:class:`MemoryMetadataStore` plays etcd; each simulated node gets its own election handle.

A simulated node's handles take a ``gate``: every call into the store awaits it first. A
simulation makes it block while the node is paused (as a SIGSTOPped process does nothing until
SIGCONT, however late its timers are) and raise once the node is killed, so a dead node can
change nothing in the store, not even from a ``finally``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from brook.env.clock import Clock
from brook.raft.fenced import (
    Leadership,
    LogGapError,
    MetadataLogError,
    NotControllerError,
    encode_batch,
)

__all__ = [
    "Gate",
    "MemoryControllerElection",
    "MemoryLeaseElection",
    "MemoryMetadataLog",
    "MemoryMetadataStore",
    "MemorySnapshots",
]

Gate = Callable[[], Awaitable[None]]
"""Awaited before every store call of a simulated node (see the module docstring)."""


async def never_paused() -> None:
    """The gate of a node that is never paused."""


@dataclass
class MemoryMetadataStore:
    """What etcd holds: the log, the leader (node, epoch, lease expiry) and a revision counter."""

    clock: Clock
    records: list[bytes] = field(default_factory=list)
    first_offset: int = 0
    revision: int = 0
    leader: tuple[int, int] | None = None  # (node id, epoch)
    leader_expires: float = 0.0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    registrations: dict[int, tuple[bytes, float, int]] = field(default_factory=dict)
    """Broker registrations: node id -> (payload, lease expiry, lease id)."""
    snapshot: tuple[int, list[bytes]] | None = None

    def current_leader(self) -> tuple[int, int] | None:
        if self.leader is not None and self.clock.monotonic() >= self.leader_expires:
            self.leader = None  # the lease expired: etcd deletes the key
        return self.leader

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def live_registrations(self) -> dict[int, tuple[bytes, float, int]]:
        """Registrations whose lease has not expired (etcd deletes the others)."""
        now = self.clock.monotonic()
        for node_id in [n for n, (_, expires, _) in self.registrations.items() if expires <= now]:
            del self.registrations[node_id]
            self.revision += 1
        return self.registrations

    def trim(self, below: int) -> None:
        """Drop records below ``below`` (a snapshot now covers them)."""
        drop = max(0, min(below, self.first_offset + len(self.records)) - self.first_offset)
        del self.records[:drop]
        self.first_offset += drop


class MemoryMetadataLog:
    """:class:`~brook.raft.fenced.FencedMetadataLog` over a :class:`MemoryMetadataStore`."""

    def __init__(self, store: MemoryMetadataStore, gate: Gate = never_paused) -> None:
        self._store = store
        self._gate = gate

    async def end_offset(self) -> int:
        await self._gate()
        return self._store.first_offset + len(self._store.records)

    async def append(self, leadership: Leadership, values: Sequence[bytes], expected_end: int) -> int:
        if not values:
            raise ValueError("an append needs at least one record")
        encode_batch(values)  # the same size limit as etcd's
        await self._gate()
        s = self._store
        if s.current_leader() != (leadership.node_id, leadership.epoch):
            raise NotControllerError(
                f"controller {leadership.node_id} lost leadership (epoch {leadership.epoch})")
        end = s.first_offset + len(s.records)
        if end != expected_end:
            raise MetadataLogError(f"metadata log end is {end}, not {expected_end}")
        s.records.extend(values)
        s.revision += 1
        await s.notify()
        return end + len(values) - 1

    async def follow(self, start: int) -> AsyncIterator[tuple[int, bytes]]:
        s = self._store
        next_offset = start
        while True:
            await self._gate()
            if next_offset < s.first_offset:
                raise LogGapError(f"metadata log has no offset {next_offset}")
            while next_offset < s.first_offset + len(s.records):
                yield next_offset, s.records[next_offset - s.first_offset]
                next_offset += 1
            async with s.changed:
                await s.changed.wait_for(functools.partial(_grown_past, s, next_offset))


def _grown_past(store: MemoryMetadataStore, offset: int) -> bool:
    return store.first_offset + len(store.records) > offset


class MemoryControllerElection:
    """A candidate whose lease lives ``ttl_s`` on the store's clock unless renewed."""

    def __init__(self, store: MemoryMetadataStore, node_id: int, ttl_s: float = 3.0) -> None:
        self._store = store
        self._node_id = node_id
        self._ttl_s = ttl_s
        self._leadership: Leadership | None = None
        self._valid_until = 0.0

    @property
    def leadership(self) -> Leadership | None:
        return self._leadership

    @property
    def valid_until(self) -> float:
        """The monotonic instant this candidate's last renewal keeps its leadership until."""
        return self._valid_until

    def lost(self) -> bool:
        return self._leadership is None or self._store.clock.monotonic() >= self._valid_until

    def renew(self) -> bool:
        """One keep-alive (the caller schedules them); False once the lease is gone."""
        s = self._store
        if self._leadership is None or s.current_leader() != (self._node_id, self._leadership.epoch):
            return False
        now = s.clock.monotonic()
        s.leader_expires = self._valid_until = now + self._ttl_s
        return True

    async def campaign(self) -> Leadership:
        s = self._store
        while True:
            if s.current_leader() is None:
                s.revision += 1
                s.leader = (self._node_id, s.revision)
                s.leader_expires = self._valid_until = s.clock.monotonic() + self._ttl_s
                self._leadership = Leadership(self._node_id, s.revision)
                await s.notify()
                return self._leadership
            # Wake on a change or when the current lease can have expired.
            delay = max(s.leader_expires - s.clock.monotonic(), 0.0) + 0.001
            async with s.changed:
                try:
                    await s.clock.wait_for(s.changed.wait(), delay)
                except TimeoutError:
                    pass

    async def resign(self) -> None:
        s = self._store
        if self._leadership is not None and s.current_leader() == (self._node_id, self._leadership.epoch):
            s.leader = None
            s.revision += 1
            await s.notify()
        self._leadership = None


class MemoryLeaseElection(MemoryControllerElection):
    """The in-memory twin of :class:`~brook.raft.etcd_election.EtcdControllerElection`: once
    elected it renews its lease every third of the TTL by itself and reports the loss
    (``wait_lost``) when a renewal finds the lease gone — e.g. after the node was paused."""

    def __init__(self, store: MemoryMetadataStore, node_id: int, ttl_s: float = 3.0,
                 gate: Gate = never_paused) -> None:
        super().__init__(store, node_id, ttl_s)
        self._gate = gate
        self._lost = asyncio.Event()
        self._renewer: asyncio.Task[None] | None = None

    def lost(self) -> bool:
        return super().lost() or self._lost.is_set()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    async def campaign(self) -> Leadership:
        s = self._store
        while True:
            await self._gate()
            if s.current_leader() is None:
                s.revision += 1
                s.leader = (self._node_id, s.revision)
                s.leader_expires = self._valid_until = s.clock.monotonic() + self._ttl_s
                self._leadership = Leadership(self._node_id, s.revision)
                self._renewer = asyncio.get_running_loop().create_task(self._renew())
                await s.notify()
                return self._leadership
            delay = max(s.leader_expires - s.clock.monotonic(), 0.0) + 0.001
            async with s.changed:
                try:
                    await s.clock.wait_for(s.changed.wait(), delay)
                except TimeoutError:
                    pass

    async def _renew(self) -> None:
        clock = self._store.clock
        while True:
            await clock.sleep(self._ttl_s / 3)
            await self._gate()
            if clock.monotonic() >= self._valid_until or not self.renew():
                break
        self._lost.set()

    async def resign(self) -> None:
        """Stop renewing (cancelling the renewer, never awaiting it: resign may run from a
        task the renewer's loss woke), then step down if the lease is still this node's."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not asyncio.current_task():
            renewer.cancel()
        self._lost.set()
        await self._gate()
        await super().resign()

    def abandon(self) -> None:
        """A killed process: no more renewals, nothing said to the store."""
        if self._renewer is not None:
            self._renewer.cancel()


class MemorySnapshots:
    """:class:`~brook.raft.etcd_snapshots.EtcdSnapshots` over a :class:`MemoryMetadataStore`:
    a write fenced by leadership replaces the snapshot and trims the log below it."""

    def __init__(self, store: MemoryMetadataStore, gate: Gate = never_paused) -> None:
        self._store = store
        self._gate = gate

    async def write(self, leadership: Leadership, end: int, values: Sequence[bytes]) -> None:
        await self._gate()
        s = self._store
        if s.current_leader() != (leadership.node_id, leadership.epoch):
            raise NotControllerError(
                f"controller {leadership.node_id} lost leadership (epoch {leadership.epoch})")
        s.snapshot = (end, list(values))
        s.trim(end + 1)
        s.revision += 1
        await s.notify()

    async def load(self) -> tuple[int, list[bytes]] | None:
        await self._gate()
        snap = self._store.snapshot
        return None if snap is None else (snap[0], list(snap[1]))
