"""Read Kafka's JSON message schemas into the type model.

The files are JSON with whole-line ``//`` comments. The quirks handled here: ``"tag"`` written
as a string, tagged fields without ``versions`` (their tagged range is their range), per-field
``flexibleVersions`` (RequestHeader.ClientId keeps its int16 length in flexible headers),
defaults written as strings of every kind ("null", "true", "0x7fffffff", "-1", text), and
struct types that are defined once (inline or in ``commonStructs``) and referenced by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.codegen.model import (
    EMPTY,
    FIXED_FORMATS,
    PRIMITIVES,
    FieldDef,
    Schema,
    StructDef,
    Versions,
    python_name,
)

SCHEMA_DIRS = ("clients", "group-coordinator", "metadata", "raft", "transaction-coordinator")


class SchemaError(ValueError):
    """The schema uses a construct the generator does not understand."""


def read_json(path: Path) -> dict[str, Any]:
    """Parse one schema file, dropping its ``//`` comment lines."""
    lines = [ln for ln in path.read_text("utf-8").splitlines() if not ln.lstrip().startswith("//")]
    data = json.loads("\n".join(lines))
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: top level is not an object")
    return data


def load_all(root: Path) -> list[Schema]:
    """Every schema under ``root``, sorted by directory then name (deterministic output)."""
    schemas = []
    for sub in SCHEMA_DIRS:
        for path in sorted((root / sub).glob("*.json")):
            schemas.append(parse_schema(read_json(path), sub))
    return schemas


def parse_schema(data: dict[str, Any], source_dir: str) -> Schema:
    name = str(data["name"])
    valid = Versions.parse(str(data["validVersions"]))
    flexible = Versions.parse(data.get("flexibleVersions"))
    named: dict[str, StructDef] = {}
    order: list[StructDef] = []
    pending: list[tuple[FieldDef, str]] = []

    def build(struct_name: str, raw_fields: list[dict[str, Any]], qual: str) -> StructDef:
        fields = [parse_field(raw, qual) for raw in raw_fields]
        struct = StructDef(struct_name, fields, qualname=qual)
        for fdef, raw in zip(fields, raw_fields, strict=True):
            if not fdef.is_struct:
                continue
            if "fields" in raw:
                if fdef.elem in named:
                    raise SchemaError(f"{name}: struct {fdef.elem} defined twice")
                child = build(fdef.elem, raw["fields"], f"{name}.{fdef.elem}")
                named[fdef.elem] = child
                order.append(child)
                fdef.struct = child
            else:
                pending.append((fdef, fdef.elem))
        return struct

    top = build(name, data.get("fields", []), name)
    for common in data.get("commonStructs", []):
        cname = str(common["name"])
        struct = build(cname, common["fields"], f"{name}.{cname}")
        named[cname] = struct
        order.append(struct)
    for fdef, ref in pending:
        if ref not in named:
            raise SchemaError(f"{name}: unknown struct type {ref}")
        fdef.struct = named[ref]
    api_key = data.get("apiKey")
    schema = Schema(
        name=name,
        kind=str(data["type"]),
        source_dir=source_dir,
        api_key=None if api_key is None else int(api_key),
        valid=valid,
        flexible=flexible,
        top=top,
        structs=order,
    )
    _mark_reachable(schema)
    return schema


def parse_field(raw: dict[str, Any], owner: str) -> FieldDef:
    type_str = str(raw["type"])
    is_array = type_str.startswith("[]")
    elem = type_str[2:] if is_array else type_str
    tagged = Versions.parse(raw.get("taggedVersions"))
    versions_text = raw.get("versions")
    versions = Versions.parse(versions_text) if versions_text is not None else tagged
    if versions.empty:
        raise SchemaError(f"{owner}.{raw['name']}: field has no versions")
    tag_raw = raw.get("tag")
    tag = None if tag_raw is None else int(tag_raw)
    if (tag is None) != tagged.empty:
        raise SchemaError(f"{owner}.{raw['name']}: tag and taggedVersions must come together")
    flex_text = raw.get("flexibleVersions")
    nullable = Versions.parse(raw.get("nullableVersions"))
    if not nullable.empty and elem in FIXED_FORMATS and not is_array:
        raise SchemaError(f"{owner}.{raw['name']}: nullable fixed-width field")
    has_default = "default" in raw
    default = _parse_default(raw.get("default"), elem, is_array) if has_default else None
    return FieldDef(
        name=str(raw["name"]),
        py_name=python_name(str(raw["name"])),
        type=type_str,
        elem=elem,
        is_array=is_array,
        versions=versions,
        nullable=nullable,
        tagged=tagged,
        tag=tag,
        flexible_override=None if flex_text is None else Versions.parse(str(flex_text)),
        default=default,
        has_default=has_default,
        ignorable=bool(raw.get("ignorable", False)),
    )


def _parse_default(value: Any, elem: str, is_array: bool) -> Any:
    """Turn a schema default into a Python value (None stands for "null")."""
    if value is None or value == "null":
        return None
    if is_array or elem not in PRIMITIVES:
        raise SchemaError(f"unsupported default {value!r} for {elem}")
    if elem == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise SchemaError(f"bad bool default {value!r}")
        return text == "true"
    if elem == "float64":
        return float(value)
    if elem in FIXED_FORMATS and elem != "uuid":
        return value if isinstance(value, int) else int(str(value), 0)
    if elem == "string":
        return str(value)
    raise SchemaError(f"unsupported default {value!r} for {elem}")


def _mark_reachable(schema: Schema) -> None:
    """Record in which versions each struct occurs, and which encoders must thread chunks."""
    schema.top.versions = set(range(schema.valid.lo, schema.valid.hi + 1))
    work = [schema.top]
    while work:
        struct = work.pop()
        for fdef in struct.fields:
            child = fdef.struct
            if child is None:
                continue
            reach = {v for v in struct.versions if v in fdef.versions}
            if not reach <= child.versions:
                child.versions |= reach
                work.append(child)
    changed = True
    all_structs = [schema.top, *schema.structs]
    while changed:
        changed = False
        for struct in all_structs:
            chunked = any(
                f.elem == "records" or (f.struct is not None and f.struct.chunked)
                for f in struct.fields
            )
            if chunked and not struct.chunked:
                struct.chunked = True
                changed = True
    for struct in all_structs:
        for fdef in struct.fields:
            if fdef.tag is not None and (
                fdef.elem == "records" or (fdef.struct is not None and fdef.struct.chunked)
            ):
                raise SchemaError(f"{struct.qualname}.{fdef.name}: tagged records")


__all__ = ["EMPTY", "SchemaError", "load_all", "parse_schema", "read_json"]
