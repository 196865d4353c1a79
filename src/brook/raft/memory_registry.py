"""Broker registrations in memory: the contract of :mod:`brook.raft.etcd_brokers` for simulation.

Each broker keeps a registration alive under a lease on the store's clock; a lease that is not
renewed expires and the registration disappears, as etcd deletes a key whose lease ran out.
``changes`` reports what the controller must act on — every registration, then each
(re-)registration and each lapse — and a broker that finds, after its own lease lapsed, that
another incarnation registered its node id meanwhile has been replaced: ``wait_lost`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterable

from brook.raft.fenced import DuplicateBrokerRegistration
from brook.raft.memory_log import Gate, MemoryMetadataStore, never_paused

__all__ = ["MemoryBrokerRegistry"]

_RETRY_S = 0.2


class MemoryBrokerRegistry:
    """One broker's registration (``register``/``deregister``) and everyone's (``changes``)."""

    def __init__(self, store: MemoryMetadataStore, ttl_s: float, gate: Gate = never_paused) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._gate = gate
        self._lease = 0
        self._keeper: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[DuplicateBrokerRegistration] | None = None

    async def register(self, node_id: int, payload: bytes) -> None:
        await self._put(node_id, payload)
        loop = asyncio.get_running_loop()
        if self._lost is None:
            self._lost = loop.create_future()
        self._keeper = loop.create_task(self._keep(node_id, payload))

    async def wait_lost(self) -> DuplicateBrokerRegistration:
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._lost)

    async def _put(self, node_id: int, payload: bytes, lapsed: bool = False) -> None:
        """As the etcd registry's: wait out a predecessor's lease; refuse a live twin; after
        this broker's own lapse, a holder with another payload has replaced it."""
        s = self._store
        held_since: float | None = None
        while True:
            await self._gate()
            held = s.live_registrations().get(node_id)
            now = s.clock.monotonic()
            if held is None or held[0] == payload:
                s.revision += 1
                self._lease = s.revision
                s.registrations[node_id] = (payload, now + self._ttl_s, self._lease)
                await s.notify()
                return
            if lapsed:
                raise DuplicateBrokerRegistration(
                    f"node.id {node_id} was registered by another broker while this one's "
                    f"session had lapsed")
            if held_since is None:
                held_since = now
            elif now - held_since > 2 * self._ttl_s + 2:
                raise DuplicateBrokerRegistration(
                    f"another live broker is registered with node.id {node_id}")
            await s.clock.sleep(_RETRY_S)

    async def _keep(self, node_id: int, payload: bytes) -> None:
        s = self._store
        while True:
            await s.clock.sleep(self._ttl_s / 3)
            await self._gate()
            held = s.live_registrations().get(node_id)
            if held is not None and held[2] == self._lease:
                s.registrations[node_id] = (payload, s.clock.monotonic() + self._ttl_s, self._lease)
                continue
            try:
                await self._put(node_id, payload, lapsed=True)
            except DuplicateBrokerRegistration as exc:
                if self._lost is not None and not self._lost.done():
                    self._lost.set_result(exc)
                return

    def abandon(self) -> None:
        """A killed process: renewals stop, the registration lapses on its own."""
        if self._keeper is not None:
            self._keeper.cancel()

    async def deregister(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await self._gate()
        s = self._store
        for node_id, (_, _, lease) in list(s.live_registrations().items()):
            if lease == self._lease:
                del s.registrations[node_id]
                s.revision += 1
                await s.notify()
        self._lease = 0

    async def changes(self, assumed: Iterable[int] = ()) -> AsyncIterator[tuple[int, bytes | None]]:
        known: dict[int, bytes] = dict.fromkeys(assumed, b"")
        s = self._store
        while True:
            await self._gate()
            live = s.live_registrations()
            seen = s.revision
            now = {node_id: payload for node_id, (payload, _, _) in live.items()}
            next_expiry = min((e for _, e, _ in live.values()), default=None)
            for node_id in sorted(set(known) - set(now)):
                del known[node_id]
                yield node_id, None
            for node_id, payload in sorted(now.items()):
                if known.get(node_id) != payload:
                    known[node_id] = payload
                    yield node_id, payload
            if s.revision != seen:
                continue
            async with s.changed:
                waiting = s.changed.wait_for(functools.partial(_moved, s, seen))
                if next_expiry is None:
                    await waiting
                else:
                    with contextlib.suppress(TimeoutError):
                        await s.clock.wait_for(
                            waiting, max(next_expiry - s.clock.monotonic(), 0.0) + 0.001)


def _moved(store: MemoryMetadataStore, seen: int) -> bool:
    return store.revision != seen
