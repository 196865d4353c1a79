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

HandlerResult = Any | Awaitable[Any] | None


@dataclass(frozen=True, slots=True)
class ApiHandler:
    api_key: int
    name: str
    min_version: int
    max_version: int
    request_cls: Any
    handle: Callable[..., HandlerResult]


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
        table[key] = ApiHandler(key, info.name, lo, hi, req_cls, module.handle)
    return table


HANDLERS: dict[int, ApiHandler] = _load()
