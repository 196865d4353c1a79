"""The table of Kafka APIs this broker serves: one handler module per API.

Each module in ``brook.broker.handlers`` defines ``API_KEY``, ``MIN_VERSION``, ``MAX_VERSION``,
``REQUEST`` (the generated request class) and ``handle``. ApiVersions advertises exactly this
table, so what we claim and what we serve cannot drift apart.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from brook.broker import handlers as _handlers_pkg
from brook.protocol.headers import (
    RequestHeader,
    request_header_version,
    response_header_version,
)

HandlerResult = Any | Awaitable[Any] | None


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
    for info in sorted(pkgutil.iter_modules(_handlers_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_handlers_pkg.__name__}.{info.name}")
        key = int(module.API_KEY)
        if key in table:
            raise RuntimeError(f"two handler modules for api key {key}: {info.name}")
        req_cls = module.REQUEST
        lo = max(int(module.MIN_VERSION), req_cls.MIN_VERSION)
        hi = min(int(module.MAX_VERSION), req_cls.MAX_VERSION)
        table[key] = _handler(key, info.name, lo, hi, req_cls, module.handle)
    return table


HANDLERS: dict[int, ApiHandler] = _load()
