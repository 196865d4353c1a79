"""The table of Kafka APIs this broker serves: one handler module per API.

Each module in ``brook.broker.handlers`` defines ``API_KEY``, ``MIN_VERSION``, ``MAX_VERSION``,
``REQUEST`` (the generated request class) and ``handle`` (a ``HandlerModule``). The modules are
listed here by name, not discovered at run time, so the import graph is the one the code
states (and mypy checks each module against ``HandlerModule``); a test checks that every
module in the package is listed. ApiVersions advertises exactly this table, so what we claim
and what we serve cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from brook.broker.handlers import (
    allocate_producer_ids,
    alter_configs,
    alter_partition,
    alter_partition_reassignments,
    api_versions,
    broker_heartbeat,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_groups,
    describe_log_dirs,
    describe_producers,
    describe_topic_partitions,
    elect_leaders,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    list_partition_reassignments,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sync_group,
)
from brook.protocol.headers import (
    RequestHeader,
    request_header_version,
    response_header_version,
)
from brook.protocol.messages.api_versions import ApiVersionsResponse

HandlerResult = Any | Awaitable[Any] | None


class HandlerModule(Protocol):
    """What a handler module defines."""

    @property
    def API_KEY(self) -> int: ...
    @property
    def MIN_VERSION(self) -> int: ...
    @property
    def MAX_VERSION(self) -> int: ...
    @property
    def REQUEST(self) -> Any: ...

    @property
    def handle(self) -> Callable[..., HandlerResult]: ...


def _entry(name: str, module: HandlerModule) -> tuple[str, HandlerModule]:
    return name, module


_MODULES: tuple[tuple[str, HandlerModule], ...] = (
    _entry("allocate_producer_ids", allocate_producer_ids),
    _entry("alter_configs", alter_configs),
    _entry("alter_partition", alter_partition),
    _entry("alter_partition_reassignments", alter_partition_reassignments),
    _entry("api_versions", api_versions),
    _entry("broker_heartbeat", broker_heartbeat),
    _entry("create_partitions", create_partitions),
    _entry("create_topics", create_topics),
    _entry("delete_groups", delete_groups),
    _entry("delete_records", delete_records),
    _entry("delete_topics", delete_topics),
    _entry("describe_cluster", describe_cluster),
    _entry("describe_configs", describe_configs),
    _entry("describe_groups", describe_groups),
    _entry("describe_log_dirs", describe_log_dirs),
    _entry("describe_producers", describe_producers),
    _entry("describe_topic_partitions", describe_topic_partitions),
    _entry("elect_leaders", elect_leaders),
    _entry("fetch", fetch),
    _entry("find_coordinator", find_coordinator),
    _entry("heartbeat", heartbeat),
    _entry("incremental_alter_configs", incremental_alter_configs),
    _entry("init_producer_id", init_producer_id),
    _entry("join_group", join_group),
    _entry("leave_group", leave_group),
    _entry("list_groups", list_groups),
    _entry("list_offsets", list_offsets),
    _entry("list_partition_reassignments", list_partition_reassignments),
    _entry("metadata", metadata),
    _entry("offset_commit", offset_commit),
    _entry("offset_delete", offset_delete),
    _entry("offset_fetch", offset_fetch),
    _entry("offset_for_leader_epoch", offset_for_leader_epoch),
    _entry("produce", produce),
    _entry("sync_group", sync_group),
)


@dataclass(frozen=True, slots=True)
class ApiHandler:
    """One API as served, with what the connection needs per version looked up once.

    ``header_decoders[v]``/``request_decoders[v]`` are the codec's raw decode functions and
    ``flexible_response_header[v]`` whether the response header carries tagged fields, for
    every version ``v`` in ``[min_version, max_version]`` (indexed by ``v``; ``None`` below
    ``min_version``): the request path does two list indexings instead of a chain of lookups.
    """

    api_key: int
    name: str
    min_version: int
    max_version: int
    request_cls: Any
    handle: Callable[..., HandlerResult]
    header_decoders: tuple[Any, ...]
    request_decoders: tuple[Any, ...]
    flexible_response_header: tuple[bool, ...]


def _handler(key: int, name: str, lo: int, hi: int, req_cls: Any, handle: Any) -> ApiHandler:
    header_decoders: list[Any] = [None] * (hi + 1)
    request_decoders: list[Any] = [None] * (hi + 1)
    flexible: list[bool] = [False] * (hi + 1)
    for v in range(lo, hi + 1):
        header_decoders[v] = RequestHeader.raw_decoder(request_header_version(key, v))
        request_decoders[v] = req_cls.raw_decoder(v)
        flexible[v] = response_header_version(key, v) == 1
    return ApiHandler(
        key, name, lo, hi, req_cls, handle,
        tuple(header_decoders), tuple(request_decoders), tuple(flexible),
    )


def _load() -> dict[int, ApiHandler]:
    table: dict[int, ApiHandler] = {}
    for name, module in _MODULES:
        key = int(module.API_KEY)
        if key in table:
            raise RuntimeError(f"two handler modules for api key {key}: {name}")
        req_cls = module.REQUEST
        lo = max(int(module.MIN_VERSION), req_cls.MIN_VERSION)
        hi = min(int(module.MAX_VERSION), req_cls.MAX_VERSION)
        table[key] = _handler(key, name, lo, hi, req_cls, module.handle)
    return table


HANDLERS: dict[int, ApiHandler] = _load()


@cache
def supported_api_keys() -> list[ApiVersionsResponse.ApiVersion]:
    """The ApiVersions answer's ranges, from the table above."""
    return [
        ApiVersionsResponse.ApiVersion(api_key=h.api_key, min_version=h.min_version,
                                       max_version=h.max_version)
        for h in sorted(HANDLERS.values(), key=lambda h: h.api_key)
    ]
