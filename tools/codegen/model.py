"""The type model the emitters work from: versions, fields, structs and whole schemas.

Everything version-dependent is answered here (is the field present, nullable, tagged, encoded
flexibly at version v?), so the emitters only ask questions and never re-parse JSON.
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

NO_VERSION = 32767
"""Upper bound of an open-ended range; also FLEXIBLE_MIN of a message that is never flexible."""

# Fixed-width primitives: struct format and size. uuid is 16 raw bytes, which `struct` packs
# with "16s", so it can join a group of neighbouring fixed-width fields.
FIXED_FORMATS: dict[str, tuple[str, int]] = {
    "int8": ("b", 1),
    "int16": ("h", 2),
    "int32": ("i", 4),
    "int64": ("q", 8),
    "uint16": ("H", 2),
    "uint32": ("I", 4),
    "float64": ("d", 8),
    "bool": ("?", 1),
    "uuid": ("16s", 16),
}
VARIABLE_TYPES = frozenset({"string", "bytes", "records"})
PRIMITIVES = frozenset(FIXED_FORMATS) | VARIABLE_TYPES

PY_TYPES: dict[str, str] = {
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "int",
    "uint16": "int",
    "uint32": "int",
    "float64": "float",
    "bool": "bool",
    "uuid": "bytes",
    "string": "str",
    "bytes": "bytes",
    "records": "Records",
}

# Names the generated classes use themselves; a field with one of these names gets a "_".
_RESERVED = frozenset({"decode", "encode", "to_bytes"})


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; ``lo > hi`` means empty ("none")."""

    lo: int
    hi: int

    @classmethod
    def parse(cls, text: str | None) -> Versions:
        """Parse Kafka's range syntax: "3+", "1-4", "2", "none" (None too means none)."""
        if text is None or text == "none":
            return EMPTY
        text = text.strip()
        if text.endswith("+"):
            return cls(int(text[:-1]), NO_VERSION)
        if "-" in text:
            lo, hi = text.split("-", 1)
            return cls(int(lo), int(hi))
        return cls(int(text), int(text))

    def __contains__(self, version: int) -> bool:
        return self.lo <= version <= self.hi

    @property
    def empty(self) -> bool:
        return self.lo > self.hi


EMPTY = Versions(NO_VERSION, -1)


def snake_case(name: str) -> str:
    """``ThrottleTimeMs`` -> ``throttle_time_ms``; ``KRaftVersion`` -> ``kraft_version``."""
    name = name.replace("KRaft", "Kraft")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


def python_name(json_name: str) -> str:
    """The attribute name of a field: snake case, with "_" appended only on a clash."""
    name = snake_case(json_name)
    if keyword.iskeyword(name) or hasattr(builtins, name) or name in _RESERVED:
        name += "_"
    return name


@dataclass
class FieldDef:
    """One field of a struct, as the schema declares it."""

    name: str
    py_name: str
    type: str
    """The schema's type string, e.g. ``[]int32`` or ``TopicProduceData``."""
    elem: str
    """Element type for arrays, else the type itself (a primitive or a struct name)."""
    is_array: bool
    versions: Versions
    nullable: Versions
    tagged: Versions
    tag: int | None
    flexible_override: Versions | None
    default: Any
    """Parsed Kafka default: a Python literal value, or None for "null"."""
    has_default: bool
    ignorable: bool = False
    """An encoder may drop a non-default value at a version that lacks the field."""
    struct: StructDef | None = None

    @property
    def is_struct(self) -> bool:
        return self.elem not in PRIMITIVES

    @property
    def ever_nullable(self) -> bool:
        return not self.nullable.empty

    @property
    def optional(self) -> bool:
        """Whether the Python value may be None (nullable in some version, or null default)."""
        return self.ever_nullable or (self.has_default and self.default is None)

    def tagged_at(self, version: int, message_flexible: bool) -> bool:
        return message_flexible and version in self.tagged

    def regular_at(self, version: int, message_flexible: bool) -> bool:
        """Present at ``version`` in the positional (non-tagged) part of the struct."""
        return version in self.versions and not self.tagged_at(version, message_flexible)

    def flexible_at(self, version: int, message_flexible: bool) -> bool:
        """Whether the field uses compact (varint-length) encoding at ``version``."""
        if not message_flexible:
            return False
        if self.flexible_override is not None:
            return version in self.flexible_override
        return True


@dataclass
class StructDef:
    """A struct: the top-level message or a nested/common struct inside it."""

    name: str
    fields: list[FieldDef]
    qualname: str = ""
    """Python qualified name, e.g. ``ProduceRequest.TopicProduceData``."""
    versions: set[int] = field(default_factory=set)
    """Versions in which this struct can occur (reachable from the top level)."""
    chunked: bool = False
    """A records field is reachable, so the encoder threads a chunk list."""

    @property
    def ident(self) -> str:
        return self.qualname.replace(".", "_")


@dataclass
class Schema:
    """One JSON file: a request, response, header or record (data/metadata) schema."""

    name: str
    kind: str
    source_dir: str
    api_key: int | None
    valid: Versions
    flexible: Versions
    top: StructDef
    structs: list[StructDef]
    """Nested and common structs in definition order (excluding ``top``)."""

    @property
    def flexible_min(self) -> int:
        return NO_VERSION if self.flexible.empty else self.flexible.lo

    def is_flexible(self, version: int) -> bool:
        return version in self.flexible
