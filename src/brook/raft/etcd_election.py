"""Controller election through an etcd lease.

A candidate grants itself a lease and creates the leader key attached to it, if the key does
not exist. Whoever creates it leads; the key's create revision is the epoch every append is
fenced with (:mod:`brook.raft.etcd_log`). The others watch the key and try again when it is
deleted — by the leader resigning or by etcd expiring the leader's lease.

The leader renews the lease every third of its TTL and considers itself **lost** as soon as it
cannot show a renewal younger than the TTL, measured from when the renewal was *sent* (so a
process paused by SIGSTOP or a long GC knows, when it resumes, that it may have been replaced).
That is a liveness measure only: safety comes from the fenced append, which refuses a stale
epoch however late the paused process wakes up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from brook.env.clock import Clock
from brook.raft.etcd_client import EtcdClient, EtcdUnavailable, WatchCompacted
from brook.raft.fenced import Leadership

__all__ = ["DEFAULT_LEASE_TTL_S", "EtcdControllerElection"]

log = logging.getLogger(__name__)

DEFAULT_LEASE_TTL_S = 3
_RETRY_S = 0.2


class EtcdControllerElection:
    """One candidate's side of the election (``campaign`` / ``lost`` / ``resign``)."""

    def __init__(self, client: EtcdClient, leader_key: bytes, node_id: int, incarnation: str,
                 clock: Clock, ttl_s: int = DEFAULT_LEASE_TTL_S) -> None:
        self._client = client
        self._key = leader_key
        self._node_id = node_id
        self._value = json.dumps({"node_id": node_id, "incarnation": incarnation}).encode()
        self._clock = clock
        self._ttl_s = ttl_s
        self._lease = 0
        self._valid_until = 0.0
        self._leadership: Leadership | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    @property
    def leadership(self) -> Leadership | None:
        return self._leadership

    def lost(self) -> bool:
        return self._leadership is None or self._lost.is_set() or (
            self._clock.monotonic() >= self._valid_until)

    async def wait_lost(self) -> None:
        """Return once leadership is lost (the renewer saw the lease expire or renewals fail)."""
        await self._lost.wait()

    async def campaign(self) -> Leadership:
        c = self._client
        while True:
            try:
                if not self._lease:
                    sent = self._clock.monotonic()
                    self._lease, ttl = await c.grant(self._ttl_s)
                    self._valid_until = sent + ttl
                    self._renewer = asyncio.get_running_loop().create_task(self._renew())
                result = await c.txn(
                    [c.cmp(self._key, "version", 0)],
                    [c.put(self._key, self._value, self._lease)],
                    [c.read(self._key)],
                )
                if result.succeeded:
                    return self._elected(result.revision)
                holder = result.ranges[0][0] if result.ranges and result.ranges[0] else None
                if holder is not None and holder.lease == self._lease:
                    return self._elected(holder.create_revision)  # an earlier, unanswered try won
                if holder is not None and holder.lease == 0:
                    # No candidate writes the key without a lease, and a key without one never
                    # expires: a stray put would leave the cluster without a controller forever.
                    log.error("controller election: removing %r from %r, written without a lease",
                              holder.value[:100], self._key)
                    await c.txn([c.cmp(self._key, "mod", holder.mod_revision)], [c.delete(self._key)])
                    continue
                if self._lost.is_set():
                    self._reset()
                    continue
                await self._wait_vacant(result.revision)
            except (EtcdUnavailable, WatchCompacted) as exc:
                log.info("controller election: %s", exc)
                await self._clock.sleep(_RETRY_S)

    def _elected(self, epoch: int) -> Leadership:
        self._leadership = Leadership(self._node_id, epoch)
        log.info("node %d is the active controller (epoch %d)", self._node_id, epoch)
        return self._leadership

    async def _wait_vacant(self, revision: int) -> None:
        async for events in self._client.watch(self._key, self._key + b"\0", revision + 1):
            if any(ev.kind == "delete" for ev in events):
                return

    async def _renew(self) -> None:
        """Renew every TTL/3; on expiry or renewals failing past the TTL, mark leadership lost."""
        interval = max(self._ttl_s / 3, 0.2)
        while True:
            await self._clock.sleep(interval)
            sent = self._clock.monotonic()
            if sent >= self._valid_until:
                break  # e.g. this process was paused: the lease may be gone already
            try:
                ttl = await self._client.keep_alive(self._lease)
            except EtcdUnavailable as exc:
                log.warning("controller lease renewal failed: %s", exc)
                continue
            if ttl <= 0:
                break
            self._valid_until = sent + ttl
        if self._leadership is not None:
            log.warning("node %d lost controller leadership (epoch %d)",
                        self._node_id, self._leadership.epoch)
        self._lost.set()

    def _reset(self) -> None:
        self._lease, self._leadership, self._lost = 0, None, asyncio.Event()

    async def resign(self) -> None:
        """Step down: delete the leader key if it is still ours, then revoke the lease."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        c = self._client
        try:
            if self._leadership is not None:
                await c.txn([c.cmp(self._key, "create", self._leadership.epoch)], [c.delete(self._key)])
            if self._lease:
                await c.revoke(self._lease)
        except EtcdUnavailable as exc:
            log.warning("controller resignation: %s (the lease expires on its own)", exc)
        self._leadership = None
        self._lease = 0
        self._lost.set()
