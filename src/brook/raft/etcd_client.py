"""The few etcd v3 calls the metadata log and the controller election make, typed.

``aetcd`` opens the gRPC channel and carries etcd's generated stubs; the requests are built here
from those stubs directly, because aetcd's own helpers drop what fencing needs (Range's
``limit``, watch ``compact_revision``, a lease keep-alive stream that stays open). aetcd talks
to one endpoint: this client holds the list and moves to the next one when a call finds its
member unreachable, so a cluster keeps its metadata while one etcd member is down.

Every failure reaches callers as one of two exceptions: :class:`EtcdUnavailable` (no answer:
the outcome of a write is unknown and must be read back) and :class:`WatchCompacted` (a watch
asked for history etcd no longer keeps: resume by reading the keys).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aetcd
import grpc
from aetcd import rpc

from brook.raft.fenced import StoreUnavailable

__all__ = [
    "EtcdClient",
    "EtcdUnavailable",
    "KeyValue",
    "TxnResult",
    "WatchCompacted",
    "WatchEvent",
    "parse_endpoints",
    "prefix_end",
]

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 5.0
"""etcd itself gives up on a proposal after 5 s plus two election timeouts (~7 s measured)."""


MAX_RECEIVE_BYTES = 64 * 1024 * 1024
"""Largest answer taken from etcd. gRPC's default (4 MiB) is fewer than five metadata batches
of up to 1 MiB: a range page or a watch response holding more would fail on every retry, and
no broker could read the log. Range pages are bounded well below this
(:data:`brook.raft.etcd_log` reads 16 batches at a time)."""


class EtcdUnavailable(StoreUnavailable):
    """No answer from etcd: for a write, whether it was applied is unknown."""


class WatchCompacted(Exception):
    """The watch's start revision is below etcd's compaction point."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"watch history compacted up to revision {compact_revision}")
        self.compact_revision = compact_revision


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: str  # "put" or "delete"
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    ranges: list[list[KeyValue]]
    """The key-values of each range operation the branch taken ran, in order."""


def prefix_end(prefix: bytes) -> bytes:
    """The range end that covers every key starting with ``prefix`` (etcd's convention)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


def parse_endpoints(spec: str) -> list[tuple[str, int]]:
    """``etcd://h1:2379,h2:2379`` (or without the scheme) as ``[(host, port), ...]``."""
    body = spec.removeprefix("etcd://").removeprefix("http://").strip("/")
    endpoints: list[tuple[str, int]] = []
    for part in body.split(","):
        part = part.strip().removeprefix("http://")
        if not part:
            continue
        host, sep, port = part.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"etcd endpoint {part!r} is not host:port")
        endpoints.append((host.strip("[]"), int(port)))
    if not endpoints:
        raise ValueError(f"no etcd endpoint in {spec!r}")
    return endpoints


def _kv(kv: Any) -> KeyValue:
    return KeyValue(bytes(kv.key), bytes(kv.value), int(kv.create_revision),
                    int(kv.mod_revision), int(kv.lease))


def _unavailable(exc: BaseException) -> bool:
    """A failure to reach etcd, as opposed to a bug. gRPC raises ``CancelledError`` in every
    call on a channel that another call's fail-over closed: that one is not our cancellation
    unless the task itself is being cancelled."""
    if isinstance(exc, asyncio.CancelledError):
        task = asyncio.current_task()
        return task is not None and task.cancelling() == 0
    return isinstance(exc, (grpc.RpcError, aetcd.exceptions.ClientError, OSError, TimeoutError))


class EtcdClient:
    """One connection at a time to one of ``endpoints``; calls fail over to the next."""

    def __init__(self, endpoints: Sequence[tuple[str, int]], timeout_s: float = CALL_TIMEOUT_S) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint")
        self._endpoints = list(endpoints)
        self._current = 0
        self._timeout = timeout_s
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        host, port = self._endpoints[self._current]
        return f"{host}:{port}"

    async def _stub(self) -> Any:
        if self._client is None:
            host, port = self._endpoints[self._current]
            client = aetcd.Client(host=host, port=port, timeout=int(self._timeout) or 1,
                                  options={"grpc.max_receive_message_length": MAX_RECEIVE_BYTES})
            await client.connect()
            self._client = client
        return self._client

    async def _fail_over(self) -> None:
        """Drop the channel and move to the next endpoint for the following call."""
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # a broken channel may fail to close; it is dropped anyway
                log.debug("closing the etcd channel to %s failed", self.endpoint, exc_info=True)
        self._current = (self._current + 1) % len(self._endpoints)

    async def _call(self, stub_name: str, method: str, request: Any,
                    missing_ok: bool = False) -> Any:
        """One unary call; ``missing_ok``: etcd's NOT_FOUND (a lease gone) answers None."""
        try:
            client = await self._stub()
            call = getattr(getattr(client, stub_name), method)
            return await asyncio.wait_for(call(request, timeout=self._timeout), self._timeout + 1)
        except BaseException as exc:
            if (missing_ok and isinstance(exc, grpc.RpcError)
                    and exc.code() == grpc.StatusCode.NOT_FOUND):
                return None
            if not _unavailable(exc):
                raise
            where = self.endpoint
            await self._fail_over()
            raise EtcdUnavailable(f"etcd at {where}: {exc}") from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def get(self, key: bytes) -> tuple[int, KeyValue | None]:
        """``(header revision, the key or None)``: a linearizable read."""
        resp = await self._call("kvstub", "Range", rpc.RangeRequest(key=key))
        return int(resp.header.revision), (_kv(resp.kvs[0]) if resp.kvs else None)

    async def range(self, start: bytes, end: bytes, limit: int = 0,
                    revision: int = 0) -> tuple[int, list[KeyValue], bool]:
        """Keys in ``[start, end)`` in key order: ``(header revision, kvs, more)``."""
        req = rpc.RangeRequest(key=start, range_end=end, limit=limit, revision=revision)
        resp = await self._call("kvstub", "Range", req)
        return int(resp.header.revision), [_kv(kv) for kv in resp.kvs], bool(resp.more)

    async def txn(self, compare: Sequence[Any], success: Sequence[Any],
                  failure: Sequence[Any] = ()) -> TxnResult:
        """One atomic If/Then/Else; build operands with :meth:`cmp` and the op helpers."""
        req = rpc.TxnRequest(compare=list(compare), success=list(success), failure=list(failure))
        resp = await self._call("kvstub", "Txn", req)
        ranges = [
            [_kv(kv) for kv in r.response_range.kvs]
            for r in resp.responses if r.WhichOneof("response") == "response_range"
        ]
        return TxnResult(bool(resp.succeeded), int(resp.header.revision), ranges)

    @staticmethod
    def cmp(key: bytes, target: str, value: int | bytes) -> Any:
        """``target`` is ``create``/``mod``/``version``/``value``/``lease``; the test is ==."""
        c = rpc.Compare(key=key, result=rpc.Compare.EQUAL)
        if target == "create":
            c.target, c.create_revision = rpc.Compare.CREATE, int(value)  # type: ignore[arg-type]
        elif target == "mod":
            c.target, c.mod_revision = rpc.Compare.MOD, int(value)  # type: ignore[arg-type]
        elif target == "version":
            c.target, c.version = rpc.Compare.VERSION, int(value)  # type: ignore[arg-type]
        elif target == "lease":
            c.target, c.lease = rpc.Compare.LEASE, int(value)  # type: ignore[arg-type]
        else:
            c.target, c.value = rpc.Compare.VALUE, bytes(value)  # type: ignore[arg-type]
        return c

    @staticmethod
    def put(key: bytes, value: bytes, lease: int = 0) -> Any:
        return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))

    @staticmethod
    def read(key: bytes, end: bytes = b"") -> Any:
        return rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end))

    @staticmethod
    def delete(key: bytes, end: bytes = b"") -> Any:
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key, range_end=end))

    async def grant(self, ttl_s: int) -> tuple[int, int]:
        """A new lease: ``(id, granted TTL)`` (etcd may raise a TTL below its minimum)."""
        resp = await self._call("leasestub", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl_s))
        return int(resp.ID), int(resp.TTL)

    async def keep_alive(self, lease_id: int) -> int:
        """Renew once; the remaining TTL, ``<= 0`` once the lease has expired."""
        async def one() -> AsyncIterator[Any]:
            yield rpc.LeaseKeepAliveRequest(ID=lease_id)

        async def renew() -> int:
            client = await self._stub()
            async for reply in client.leasestub.LeaseKeepAlive(one(), timeout=self._timeout):
                return int(reply.TTL)
            return 0

        try:
            return await asyncio.wait_for(renew(), self._timeout + 1)
        except BaseException as exc:
            if not _unavailable(exc):
                raise
            where = self.endpoint
            await self._fail_over()
            raise EtcdUnavailable(f"etcd at {where}: {exc}") from exc

    async def revoke(self, lease_id: int) -> bool:
        """Revoke a lease (its keys are deleted); False if it was gone already (expired or
        revoked by someone else), which is no reason to fail over to another endpoint."""
        resp = await self._call("leasestub", "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease_id),
                                missing_ok=True)
        return resp is not None

    async def revoke_holder(self, key: bytes, holder: Callable[[bytes], bool]) -> bool:
        """Revoke the lease ``key`` is attached to if its value satisfies ``holder`` (it names
        the process meant): True if that revoked it. A successor that wrote the key anew holds
        another lease, which this never touches — reading the key and revoking its lease by id
        cannot race into it."""
        _, kv = await self.get(key)
        if kv is None or kv.lease == 0 or not holder(kv.value):
            return False
        return await self.revoke(kv.lease)

    async def watch(self, start: bytes, end: bytes, start_revision: int) -> AsyncIterator[list[WatchEvent]]:
        """Events on ``[start, end)`` from ``start_revision`` on, one list per etcd revision
        batch, in revision order. Ends with :class:`EtcdUnavailable` when the stream breaks and
        :class:`WatchCompacted` when the history is gone; callers resume by reading keys."""
        stop = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                key=start, range_end=end, start_revision=start_revision))
            await stop.wait()

        try:
            client = await self._stub()
            stream = rpc.WatchStub(client.channel).Watch(requests())
            async for resp in stream:
                if resp.compact_revision:
                    raise WatchCompacted(int(resp.compact_revision))
                if resp.canceled:
                    raise EtcdUnavailable(f"etcd cancelled the watch: {resp.cancel_reason}")
                if resp.events:
                    yield [
                        WatchEvent("delete" if ev.type == 1 else "put", _kv(ev.kv))
                        for ev in resp.events
                    ]
            raise EtcdUnavailable("etcd closed the watch stream")
        except (WatchCompacted, EtcdUnavailable, GeneratorExit):
            raise
        except BaseException as exc:
            if not _unavailable(exc):
                raise
            where = self.endpoint
            await self._fail_over()
            raise EtcdUnavailable(f"etcd watch at {where}: {exc}") from exc
        finally:
            stop.set()
