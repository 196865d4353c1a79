"""Broker liveness through etcd: each broker keeps a registration key alive with its lease.

``P/brokers/<node id>`` holds what the broker registers (its incarnation, rack and endpoints,
opaque bytes here) attached to a lease of ``broker.session.timeout.ms``. A broker that dies or
pauses stops renewing; etcd deletes the key when the lease runs out; the active controller,
watching the prefix, fences it. A broker that comes back registers again (a fresh lease) and
the controller unfences it — unless, while its session had lapsed, another process registered
the same node id: then this broker has been replaced, and :meth:`EtcdBrokerRegistry.wait_lost`
tells its owner to shut down rather than serve unregistered. Only the controller writes the
metadata log: these keys are its input, never state any broker reads its image from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

from brook.env.clock import Clock
from brook.raft.etcd_client import EtcdClient, EtcdUnavailable, WatchCompacted, prefix_end
from brook.raft.fenced import DuplicateBrokerRegistration

__all__ = ["DuplicateBrokerRegistration", "EtcdBrokerRegistry"]

log = logging.getLogger(__name__)

_RETRY_S = 0.2


class EtcdBrokerRegistry:
    """This broker's registration (``register``/``deregister``) and everyone's (``changes``)."""

    def __init__(self, client: EtcdClient, prefix: bytes, clock: Clock, ttl_s: int) -> None:
        self._client = client
        self._prefix = prefix + b"brokers/"
        self._clock = clock
        self._ttl_s = max(ttl_s, 2)
        self._keeper: asyncio.Task[None] | None = None
        self._lease = 0
        self._lost: asyncio.Future[DuplicateBrokerRegistration] | None = None

    def key(self, node_id: int) -> bytes:
        """The registration key of ``node_id``."""
        return self._prefix + str(node_id).encode()

    async def register(self, node_id: int, payload: bytes) -> None:
        """Write the key under a fresh lease and keep renewing it (re-registering if the lease
        is lost, e.g. after this process was paused longer than the TTL)."""
        await self._put(node_id, payload)
        loop = asyncio.get_running_loop()
        if self._lost is None:
            self._lost = loop.create_future()
        self._keeper = loop.create_task(self._keep(node_id, payload))

    async def wait_lost(self) -> DuplicateBrokerRegistration:
        """Wait until this broker's registration is gone for good: its session lapsed (a
        pause longer than the lease) and another process registered its node id meanwhile."""
        if self._lost is None:
            self._lost = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._lost)

    async def _put(self, node_id: int, payload: bytes, lapsed: bool = False) -> None:
        """Create the key, unless another incarnation holds it: a predecessor killed before it
        could deregister keeps it until its lease lapses (wait for that, as Kafka's controller
        makes a restarted broker wait out its old session); one still renewing it past that is
        a second live broker with this node id, and this one must not take its place.

        ``lapsed``: this broker held the key and its own lease ran out. Whoever holds the key
        now wrote it after that — a newer incarnation that took the node id over — so there is
        nothing to wait out: this broker was replaced."""
        c, key = self._client, self.key(node_id)
        held_since: float | None = None
        while True:
            try:
                # A fresh lease each attempt: one granted before a long wait would lapse unused.
                self._lease, _ = await c.grant(self._ttl_s)
                result = await c.txn([c.cmp(key, "version", 0)], [c.put(key, payload, self._lease)],
                                     [c.read(key)])
                holder = result.ranges[0][0] if not result.succeeded and result.ranges[0] else None
                if holder is None or holder.value == payload:
                    if holder is not None and holder.lease != self._lease:
                        # Ours, from a lapsed lease: moved to this one only if nobody wrote the
                        # key since it was read, else read it again.
                        moved = await c.txn([c.cmp(key, "mod", holder.mod_revision)],
                                            [c.put(key, payload, self._lease)])
                        if not moved.succeeded:
                            await self._revoke()
                            continue
                    return
                await self._revoke()
                if lapsed:
                    raise DuplicateBrokerRegistration(
                        f"node.id {node_id} was registered by another broker while this one's "
                        f"session had lapsed")
            except EtcdUnavailable as exc:
                log.warning("broker registration: %s", exc)
                self._lease = 0
                await self._clock.sleep(_RETRY_S)
                continue
            now = self._clock.monotonic()
            if held_since is None:
                held_since = now
                log.warning("node id %d is registered by another incarnation; waiting for its "
                            "session to lapse", node_id)
            elif now - held_since > 2 * self._ttl_s + 2:
                await self._revoke()
                raise DuplicateBrokerRegistration(
                    f"another live broker is registered with node.id {node_id}")
            await self._clock.sleep(_RETRY_S)

    async def _revoke(self) -> None:
        if self._lease:
            try:
                await self._client.revoke(self._lease)
            except EtcdUnavailable as exc:
                log.warning("broker deregistration: %s (the lease expires on its own)", exc)
            self._lease = 0

    async def _keep(self, node_id: int, payload: bytes) -> None:
        while True:
            await self._clock.sleep(self._ttl_s / 3)
            try:
                ttl = await self._client.keep_alive(self._lease)
            except EtcdUnavailable as exc:
                log.warning("broker registration renewal: %s", exc)
                continue
            if ttl <= 0:
                log.warning("broker %d's registration lapsed; registering again", node_id)
                self._lease = 0
                try:
                    await self._put(node_id, payload, lapsed=True)
                except DuplicateBrokerRegistration as exc:
                    log.critical("broker %d lost its registration and shuts down: %s", node_id, exc)
                    if self._lost is not None and not self._lost.done():
                        self._lost.set_result(exc)
                    return

    async def stop_renewing(self) -> None:
        """A stopping broker: keep the lease as it is, but never register again if it ends
        (peers revoke it as soon as the listener closes)."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def deregister(self) -> None:
        """Clean shutdown: drop the registration now rather than when the lease expires."""
        await self.stop_renewing()
        await self._revoke()

    async def changes(self, assumed: Iterable[int] = ()) -> AsyncIterator[tuple[int, bytes | None]]:
        """Every registration present, then each change: ``(node id, payload)`` for a
        (re-)registration, ``(node id, None)`` when one lapsed. ``assumed`` are the brokers the
        caller believes registered (a new controller's image): those without a key now are
        reported lapsed first. After a broken watch the keys are read again and only the
        differences are reported."""
        known: dict[int, bytes] = dict.fromkeys(assumed, b"")
        end = prefix_end(self._prefix)
        while True:
            try:
                revision, kvs, _ = await self._client.range(self._prefix, end)
                now = {node: kv.value for kv in kvs if (node := self._node(kv.key)) is not None}
                for node_id in sorted(set(known) - set(now)):
                    del known[node_id]
                    yield node_id, None
                for node_id, payload in sorted(now.items()):
                    if known.get(node_id) != payload:
                        known[node_id] = payload
                        yield node_id, payload
                async for events in self._client.watch(self._prefix, end, revision + 1):
                    for ev in events:
                        changed = self._node(ev.kv.key)
                        if changed is None:
                            continue
                        if ev.kind == "delete":
                            if known.pop(changed, None) is not None:
                                yield changed, None
                        else:
                            known[changed] = ev.kv.value
                            yield changed, ev.kv.value
            except (EtcdUnavailable, WatchCompacted) as exc:
                log.info("broker registrations watch resumes: %s", exc)
                await self._clock.sleep(_RETRY_S)

    def _node(self, key: bytes) -> int | None:
        """The node id a registration key names; None for a key no broker writes (a stray
        ``etcdctl put``), which must not stop the controller from seeing the real ones."""
        suffix = key[len(self._prefix):]
        if not suffix.isdigit() or len(suffix) > 10 or int(suffix) > 0x7FFFFFFF:
            log.warning("broker registrations: ignoring foreign key %r", key)
            return None
        return int(suffix)
