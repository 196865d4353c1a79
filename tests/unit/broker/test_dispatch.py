"""What ApiVersions advertises is exactly what the handler modules serve."""

from __future__ import annotations

import importlib
import pkgutil

from brook.broker import handlers
from brook.broker.dispatch import HANDLERS
from brook.protocol.api_keys import ApiKey
from brook.protocol.messages import API_NAMES


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def test_one_handler_file_per_api_named_after_it() -> None:
    modules = [m.name for m in pkgutil.iter_modules(handlers.__path__) if not m.name.startswith("_")]
    assert len(modules) == len(HANDLERS)
    for name in modules:
        module = importlib.import_module(f"brook.broker.handlers.{name}")
        key = int(module.API_KEY)
        assert _snake(API_NAMES[key]) == name, (key, name)
        assert module.REQUEST.API_KEY == key
        assert HANDLERS[key].name == name


def test_advertised_ranges_are_within_the_codec() -> None:
    for key, handler in HANDLERS.items():
        assert handler.request_cls.MIN_VERSION <= handler.min_version
        assert handler.max_version <= handler.request_cls.MAX_VERSION
        assert handler.min_version <= handler.max_version, ApiKey(key).name


def test_the_apis_current_clients_need_are_served() -> None:
    needed = {
        ApiKey.PRODUCE, ApiKey.FETCH, ApiKey.LIST_OFFSETS, ApiKey.METADATA, ApiKey.API_VERSIONS,
        ApiKey.CREATE_TOPICS, ApiKey.DELETE_TOPICS, ApiKey.INIT_PRODUCER_ID,
        ApiKey.DESCRIBE_CONFIGS, ApiKey.ALTER_CONFIGS, ApiKey.INCREMENTAL_ALTER_CONFIGS,
        ApiKey.CREATE_PARTITIONS, ApiKey.DELETE_RECORDS, ApiKey.DESCRIBE_CLUSTER,
        ApiKey.OFFSET_FOR_LEADER_EPOCH,
    }
    assert needed <= set(HANDLERS)


def test_per_version_tables_match_the_header_rules() -> None:
    from brook.protocol.headers import (
        RequestHeader,
        request_header_version,
        response_header_version,
    )

    for key, handler in HANDLERS.items():
        for v in range(handler.min_version, handler.max_version + 1):
            assert handler.header_decoders[v] is RequestHeader.raw_decoder(
                request_header_version(key, v))
            assert handler.request_decoders[v] is handler.request_cls.raw_decoder(v)
            assert handler.flexible_response_header[v] == (response_header_version(key, v) == 1)
    # ApiVersions answers with header v0 even at flexible versions (clients must read it).
    assert not any(HANDLERS[ApiKey.API_VERSIONS].flexible_response_header)
