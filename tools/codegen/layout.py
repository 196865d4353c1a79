"""Where each schema goes, and the registry modules (``__init__.py``) of each package.

* ``messages/``: one module per API with its request and response classes, the two headers,
  and the client-side data schemas (ConsumerProtocolSubscription, ...). Registries by api key.
* ``metadata_records/``: KRaft metadata records, ``BY_TYPE`` by record type (the apiKey).
* ``group_records/`` and ``txn_records/``: ``__consumer_offsets`` and ``__transaction_state``
  records. In those topics the key's version says which record it is, so ``BY_TYPE`` maps
  each key version to its (Key, Value) class pair.
* ``raft_records/``: the quorum-state file and the KRaft control records, with ``BY_TYPE``
  keyed by control record type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.codegen.emit_module import HEADER
from tools.codegen.model import Schema, snake_case

PACKAGES = ("messages", "metadata_records", "group_records", "txn_records", "raft_records")

# Control record types of KRaft's log (Kafka's ControlRecordType); 0 and 1 are the transaction
# markers, which have no schema of their own here.
CONTROL_RECORD_TYPES: dict[str, int] = {
    "LeaderChangeMessage": 2,
    "SnapshotHeaderRecord": 3,
    "SnapshotFooterRecord": 4,
    "KRaftVersionRecord": 5,
    "VotersRecord": 6,
}


@dataclass
class ModulePlan:
    package: str
    module: str
    schemas: list[Schema] = field(default_factory=list)


def plan_modules(schemas: list[Schema]) -> list[ModulePlan]:
    """Group schemas into modules, sorted by (package, module)."""
    plans: dict[tuple[str, str], ModulePlan] = {}
    for schema in schemas:
        package, module = _place(schema)
        plan = plans.setdefault((package, module), ModulePlan(package, module))
        plan.schemas.append(schema)
    for plan in plans.values():
        plan.schemas.sort(key=lambda s: (s.kind != "request", s.name))
    return [plans[k] for k in sorted(plans)]


def _place(schema: Schema) -> tuple[str, str]:
    if schema.source_dir == "clients":
        if schema.kind in ("request", "response"):
            base = schema.name.removesuffix("Request").removesuffix("Response")
            return "messages", snake_case(base)
        if schema.name in CONTROL_RECORD_TYPES:
            return "raft_records", snake_case(schema.name)
        return "messages", snake_case(schema.name)
    package = {
        "metadata": "metadata_records",
        "group-coordinator": "group_records",
        "transaction-coordinator": "txn_records",
        "raft": "raft_records",
    }[schema.source_dir]
    return package, snake_case(schema.name)


def record_types(schema: Schema) -> int | None:
    """The RECORD_TYPE constant of a record class, if it has one."""
    if schema.kind == "metadata" and schema.api_key is not None:
        return schema.api_key
    return CONTROL_RECORD_TYPES.get(schema.name)


def emit_registry(package: str, plans: list[ModulePlan]) -> str:
    """The ``__init__.py`` of one generated package."""
    mine = [p for p in plans if p.package == package]
    lines = [HEADER, f'"""Generated {package} classes and their registries."""\n\n']
    lines.append("from __future__ import annotations\n\n")
    lines.append("from brook.protocol._codec import Message\n")
    exported: list[str] = []
    for plan in mine:
        names = ", ".join(s.name for s in plan.schemas)
        lines.append(f"from brook.protocol.{package}.{plan.module} import {names}\n")
        exported.extend(s.name for s in plan.schemas)
    schemas = sorted((s for p in mine for s in p.schemas), key=lambda s: s.name)
    lines.append("\n")
    if package == "messages":
        lines.extend(_message_registries(schemas))
    elif package == "metadata_records":
        entries = sorted((s.api_key, s.name) for s in schemas if s.api_key is not None)
        lines.append(_dict("BY_TYPE", "dict[int, type[Message]]", [f"{k}: {n}" for k, n in entries]))
    elif package == "raft_records":
        entries = sorted((CONTROL_RECORD_TYPES[s.name], s.name) for s in schemas if s.name in CONTROL_RECORD_TYPES)
        lines.append(_dict("BY_TYPE", "dict[int, type[Message]]", [f"{k}: {n}" for k, n in entries]))
    else:
        lines.append(_key_value_registry(schemas))
    lines.append("\n__all__ = [\n")
    for name in sorted([*exported, *_registry_names(package)]):
        lines.append(f'    "{name}",\n')
    lines.append("]\n")
    return "".join(lines)


def _registry_names(package: str) -> list[str]:
    if package == "messages":
        return ["API_NAMES", "DATA", "REQUESTS", "RESPONSES"]
    return ["BY_TYPE"]


def _dict(name: str, ann: str, entries: list[str]) -> str:
    body = "".join(f"    {e},\n" for e in entries)
    return f"{name}: {ann} = {{\n{body}}}\n"


def _message_registries(schemas: list[Schema]) -> list[str]:
    requests = sorted((s.api_key, s.name) for s in schemas if s.kind == "request" and s.api_key is not None)
    responses = sorted((s.api_key, s.name) for s in schemas if s.kind == "response" and s.api_key is not None)
    data = sorted(s.name for s in schemas if s.kind == "data")
    return [
        _dict("REQUESTS", "dict[int, type[Message]]", [f"{k}: {n}" for k, n in requests]),
        _dict("RESPONSES", "dict[int, type[Message]]", [f"{k}: {n}" for k, n in responses]),
        _dict("API_NAMES", "dict[int, str]", [f'{k}: "{n.removesuffix("Request")}"' for k, n in requests]),
        _dict("DATA", "dict[str, type[Message]]", [f'"{n}": {n}' for n in data]),
    ]


def _key_value_registry(schemas: list[Schema]) -> str:
    by_name = {s.name: s for s in schemas}
    entries: list[tuple[int, str]] = []
    for s in schemas:
        if not s.name.endswith("Key"):
            continue
        value = s.name.removesuffix("Key") + "Value"
        if value not in by_name:
            continue
        for v in range(s.valid.lo, s.valid.hi + 1):
            entries.append((v, f"{v}: ({s.name}, {value})"))
    entries.sort()
    return _dict("BY_TYPE", "dict[int, tuple[type[Message], type[Message]]]", [e for _, e in entries])


def emit_client_registry(modules: list[str]) -> str:
    """The ``__init__.py`` of the test-only package: importing it installs every module.

    Relative imports keep the package importable under whatever name the importer's path
    gives it (``protocol_codec`` from the tests, ``tests.protocol_codec`` from the repo root).
    """
    lines = [
        HEADER,
        '"""Client directions of the Kafka messages (request encoders, response decoders).\n\n'
        "Test-only: ``src/`` holds what the broker decodes and encodes; importing this package\n"
        'adds the remaining directions to the same classes, for tests that act as a client."""\n\n',
        "from __future__ import annotations\n\n",
    ]
    lines.append("from . import (  # noqa: F401\n")
    lines.extend(f"    {m},\n" for m in modules)
    lines.append(")\n")
    return "".join(lines)
