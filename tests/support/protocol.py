"""Shared helpers for the protocol tests: class discovery and Hypothesis strategies.

Strategies are built from each generated class's ``_FIELDS`` description, so every field of
every message version is exercised without hand-written per-message code.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from brook.protocol._codec import FieldSpec, Message

PACKAGES = ("messages", "metadata_records", "group_records", "txn_records", "raft_records")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = REPO_ROOT.parent / "shared" / "kafka-protocol"

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


def top_level_classes() -> list[type[Message]]:
    """Every generated top-level class (requests, responses, headers, records), sorted."""
    found: dict[str, type[Message]] = {}
    for package in PACKAGES:
        pkg = importlib.import_module(f"brook.protocol.{package}")
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"brook.protocol.{package}.{info.name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, Message)
                    and value.__module__ == module.__name__
                    and hasattr(value, "MAX_VERSION")
                ):
                    found[f"{package}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def versions(cls: type[Message]) -> range:
    return range(cls.MIN_VERSION, cls.MAX_VERSION + 1)


def in_range(lo: int, hi: int, version: int) -> bool:
    return lo <= version <= hi


_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=12),
    # Longer than 127 encoded bytes, so compact lengths need a multi-byte varint.
    st.integers(min_value=64, max_value=90).map(lambda n: "é" * n),
)


def _scalar(kafka_type: str) -> st.SearchStrategy[Any]:
    if kafka_type in _INT_RANGES:
        lo, hi = _INT_RANGES[kafka_type]
        return st.integers(min_value=lo, max_value=hi)
    if kafka_type == "bool":
        return st.booleans()
    if kafka_type == "float64":
        return st.floats(allow_nan=False)
    if kafka_type == "string":
        return _TEXT
    if kafka_type == "bytes":
        return st.binary(max_size=20)
    if kafka_type == "records":
        return st.binary(max_size=40)
    if kafka_type == "uuid":
        return st.binary(min_size=16, max_size=16)
    raise AssertionError(kafka_type)


def field_strategy(spec: FieldSpec, version: int, depth: int) -> st.SearchStrategy[Any]:
    is_array = spec.kafka_type.startswith("[]")
    elem = spec.kafka_type[2:] if is_array else spec.kafka_type
    if spec.struct is not None:
        inner: st.SearchStrategy[Any] = message_strategy(spec.struct, version, depth + 1)
    else:
        inner = _scalar(elem)
    strategy = st.lists(inner, max_size=2 if depth < 3 else 0) if is_array else inner
    if in_range(spec.nullable_min, spec.nullable_max, version):
        strategy = st.none() | strategy
    return strategy


@functools.cache
def message_strategy(cls: Any, version: int, depth: int = 0) -> st.SearchStrategy[Any]:
    """Instances of ``cls`` whose fields present at ``version`` hold arbitrary valid values."""
    fields = {
        spec.name: field_strategy(spec, version, depth)
        for spec in cls._FIELDS
        if in_range(spec.min_version, spec.max_version, version)
    }
    return st.fixed_dictionaries(fields).map(lambda kw: cls(**kw))


def at_version(obj: Any, version: int) -> Any:
    """A copy of ``obj`` with every field ``version`` lacks back at its default.

    Encoders refuse a set, non-ignorable field the version cannot carry (as Kafka's do), so a
    sample built for the newest version is fitted before it is encoded at an older one.
    """
    cls = type(obj)
    kwargs: dict[str, Any] = {}
    for spec in cls._FIELDS:
        value = getattr(obj, spec.name)
        if not in_range(spec.min_version, spec.max_version, version):
            continue
        if spec.struct is not None and isinstance(value, list):
            value = [at_version(item, version) for item in value]
        elif spec.struct is not None and value is not None:
            value = at_version(value, version)
        kwargs[spec.name] = value
    return cls(**kwargs)
