"""Python-side view of a field: its annotation, its default, and "is it at its default?".

One rule set is used for the constructor, for fields absent from a decoded version, and for
deciding whether a tagged field must be written, so the three always agree.
"""

from __future__ import annotations

from tools.codegen.context import ModuleContext
from tools.codegen.model import PY_TYPES, FieldDef

SINGLE_STRUCTS: dict[str, str] = {
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "float64": "FLOAT64",
    "bool": "BOOL",
    "uuid": "UUID",
}


def py_type(f: FieldDef, *, element: bool = False) -> str:
    """The annotation of a field (or of one element of an array field)."""
    if f.struct is not None:
        base = f.struct.qualname
    else:
        base = PY_TYPES[f.elem]
    if element:
        return base
    if f.is_array:
        base = f"list[{base}]"
    if f.elem == "records":
        return base
    return f"{base} | None" if f.optional else base


def literal_default(f: FieldDef) -> str:
    """Default of a scalar field as a Python literal."""
    if f.has_default:
        if f.default is None:
            return "None"
        if f.elem == "float64":
            return repr(float(f.default))
        return repr(f.default)
    if f.elem == "bool":
        return "False"
    if f.elem == "float64":
        return "0.0"
    if f.elem == "uuid":
        return "ZERO_UUID"
    if f.elem == "string":
        return '""'
    if f.elem == "bytes":
        return 'b""'
    if f.elem == "records":
        return "None" if f.ever_nullable else 'b""'
    return "0"


def default_expr(ctx: ModuleContext, f: FieldDef) -> str:
    """A fresh default value (new list / new struct each time)."""
    if f.is_array:
        return "None" if f.optional else "[]"
    if f.struct is not None:
        return "None" if f.optional else f"{ctx.alias(f.struct)}()"
    return literal_default(f)


def spec_default(f: FieldDef) -> str:
    """The default recorded in ``_FIELDS`` (structs: None, meaning "a default instance")."""
    if f.is_array:
        return "None" if f.optional else "[]"
    if f.struct is not None:
        return "None"
    return literal_default(f)


def differs_from_default(ctx: ModuleContext, f: FieldDef, src: str) -> str:
    """An expression true when a tagged field must be written (Kafka omits defaults)."""
    if f.is_array:
        return f"{src} is not None" if f.optional else f"len({src}) > 0"
    if f.struct is not None:
        if f.optional:
            return f"{src} is not None"
        return f"not {ctx.default_check(f.struct)}({src})"
    lit = literal_default(f)
    if lit == "None":
        return f"{src} is not None"
    return f"{src} != {lit}"


def default_check_body(ctx: ModuleContext, fields: list[FieldDef]) -> str:
    """Expression over ``v`` true when every field holds its default (cheaper than ``==``)."""
    terms = []
    for f in fields:
        src = f"v.{f.py_name}"
        if f.is_array:
            terms.append(f"{src} is None" if f.optional else f"not {src}")
        elif f.struct is not None:
            terms.append(f"{src} is None" if f.optional else f"{ctx.default_check(f.struct)}({src})")
        else:
            lit = literal_default(f)
            terms.append(f"{src} is None" if lit == "None" else f"{src} == {lit}")
    return " and ".join(terms) if terms else "True"
