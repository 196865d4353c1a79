"""Emit the body of one encode function: one struct over a run of versions (``v`` guards).

Encoders append to a ``bytearray``. A struct from which a ``records`` field is reachable gets
an extra ``chunks`` list: the record buffer is appended to it by reference, a fresh
``bytearray`` continues the message, and the function returns whichever buffer is current.
Fields absent at the version are skipped; tagged fields are written only when they differ
from their default, ordered by tag.
"""

from __future__ import annotations

from tools.codegen.context import Code, ModuleContext, fixed_groups, run_patterns, version_guard
from tools.codegen.model import FIXED_FORMATS, FieldDef, Schema, StructDef
from tools.codegen.pytypes import SINGLE_STRUCTS, differs_from_default

_NULL = {2: r'b"\xff\xff"', 4: r'b"\xff\xff\xff\xff"'}
_EMPTY = {2: r'b"\x00\x00"', 4: r'b"\x00\x00\x00\x00"'}


def encode_body(ctx: ModuleContext, schema: Schema, struct: StructDef, versions: list[int]) -> list[str]:
    """One function for ``versions``: fields some of them lack are written under a version guard.

    A field a version lacks may be left out silently only if it is ``ignorable`` or holds its
    default; otherwise the encoder refuses, as Kafka's generated writers do.
    """
    version = versions[0]
    flex = schema.is_flexible(version)
    c = Code()
    present = [f for f in struct.fields if any(f.regular_at(v, flex) for v in versions)]
    pending: list[list[FieldDef]] = []
    for run in fixed_groups(present, lambda f: True):
        first = run[0]
        guard = version_guard(first, versions)
        if not first.is_array and first.elem in FIXED_FORMATS:
            patterns = run_patterns(run, versions)
            for i, (cond, fields) in enumerate(patterns):
                if len(patterns) == 1:
                    _pack_run(ctx, c, fields, run)
                    continue
                with c.block("else:" if cond is None else f"{'if' if i == 0 else 'elif'} {cond}:"):
                    _pack_run(ctx, c, fields, run)
        elif guard is not None:
            # Neighbours under the same guard share its block; refusals follow all of them.
            if c.lines and c.lines[-1] == f"{c.indent}#guard {guard}":
                c.lines.pop()
                refused = pending.pop()
            else:
                c(f"if {guard}:")
                refused = []
            at = next(v for v in versions if v in first.versions)
            with c.block("#"):
                c.lines.pop()
                encode_field(ctx, c, first, at, flex, f"o.{first.py_name}", "out", tagged=False)
            if not first.ignorable:
                refused.append(first)
            pending.append(refused)
            c(f"#guard {guard}")
        else:
            encode_field(ctx, c, first, version, flex, f"o.{first.py_name}", "out", tagged=False)
    for f in struct.fields:
        if f not in present and not f.ignorable and not any(v in f.versions for v in versions):
            _refuse_non_default(ctx, c, f, "if")
    if flex:
        _encode_tags(ctx, c, struct, version)
    if struct.chunked:
        c("return out")
    lines = _close_guards(ctx, c, pending)
    return lines or ["    pass"]


def _close_guards(ctx: ModuleContext, c: Code, pending: list[list[FieldDef]]) -> list[str]:
    """Replace each guard's end marker with the refusals of its non-ignorable fields."""
    out: list[str] = []
    blocks = iter(pending)
    for line in c.lines:
        stripped = line.lstrip()
        if not stripped.startswith("#guard "):
            out.append(line)
            continue
        indent = line[: len(line) - len(stripped)]
        for i, f in enumerate(next(blocks)):
            check = differs_from_default(ctx, f, f"o.{f.py_name}")
            if i == 0:
                out.append(f"{indent}else:")
            out.append(f"{indent}    if {check}:")
            out.append(f'{indent}        raise unsupported_field("{f.name}", v)')
    return out


def _pack_run(ctx: ModuleContext, c: Code, fields: list[FieldDef], run: list[FieldDef]) -> None:
    """Write ``fields`` with one Struct; refuse a set, non-ignorable field of the run left out."""
    if fields:
        name, _ = ctx.struct_for(fields)
        c(f"out += {name}.pack({', '.join(f'o.{f.py_name}' for f in fields)})")
    for f in run:
        if f not in fields and not f.ignorable:
            _refuse_non_default(ctx, c, f, "if")
    if not fields and all(f.ignorable for f in run):
        c("pass")


def _refuse_non_default(ctx: ModuleContext, c: Code, f: FieldDef, keyword: str) -> None:
    with c.block(f"{keyword} {differs_from_default(ctx, f, f'o.{f.py_name}')}:"):
        c(f'raise unsupported_field("{f.name}", v)')


def _encode_tags(ctx: ModuleContext, c: Code, struct: StructDef, version: int) -> None:
    tagged = sorted(
        (f for f in struct.fields if f.tagged_at(version, True) and version in f.versions),
        key=lambda f: f.tag or 0,
    )
    if not tagged:
        c("out.append(0)")
        return
    flags = []
    for f in tagged:
        flag = c.temp()
        c(f"{flag} = {differs_from_default(ctx, f, f'o.{f.py_name}')}")
        flags.append(flag)
    with c.block(f"if not ({' or '.join(flags)}):"):
        c("out.append(0)")
    with c.block("else:"):
        c(f"write_uvarint(out, {' + '.join(f'int({x})' for x in flags)})")
        for f, flag in zip(tagged, flags, strict=True):
            with c.block(f"if {flag}:"):
                tb = c.temp()
                c(f"{tb} = bytearray()")
                encode_field(ctx, c, f, version, True, f"o.{f.py_name}", tb, tagged=True)
                c(f"write_uvarint(out, {f.tag})")
                c(f"write_uvarint(out, len({tb}))")
                c(f"out += {tb}")


def _write_length(c: Code, buf: str, fl: bool, width: int, length: str) -> None:
    if fl:
        c(f"n = {length} + 1")
        with c.block("if n < 128:"):
            c(f"{buf}.append(n)")
        with c.block("else:"):
            c(f"write_uvarint({buf}, n)")
    else:
        c(f"{buf} += {'INT16' if width == 2 else 'INT32'}.pack({length})")


def _write_null(c: Code, buf: str, fl: bool, width: int, nullable: bool) -> None:
    """Write null, or an empty value when this version cannot express null."""
    if fl:
        c(f"{buf}.append({0 if nullable else 1})")
    else:
        c(f"{buf} += {(_NULL if nullable else _EMPTY)[width]}")


def encode_field(
    ctx: ModuleContext,
    c: Code,
    f: FieldDef,
    version: int,
    flex: bool,
    src: str,
    buf: str,
    *,
    tagged: bool,
) -> None:
    """Encode one field (not part of a fixed-width run) from expression ``src`` into ``buf``."""
    fl = f.flexible_at(version, flex)
    nullable = version in f.nullable
    width = 2 if (f.elem == "string" and not f.is_array) else 4
    if f.struct is not None and not f.is_array:
        _encode_struct(ctx, c, f, version, src, buf, nullable=nullable, tagged=tagged)
        return
    if f.elem in FIXED_FORMATS and not f.is_array:
        c(f"{buf} += {SINGLE_STRUCTS[f.elem]}.pack({src})")
        return
    may_be_none = f.optional or f.elem == "records"
    value = src
    if may_be_none:
        value = c.temp()
        c(f"{value} = {src}")
        with c.block(f"if {value} is None:"):
            _write_null(c, buf, fl, width, nullable)
        with c.block("else:"):
            _encode_value(ctx, c, f, version, fl, value, buf, width)
    else:
        _encode_value(ctx, c, f, version, fl, value, buf, width)


def _encode_value(
    ctx: ModuleContext, c: Code, f: FieldDef, version: int, fl: bool, src: str, buf: str, width: int
) -> None:
    if f.is_array:
        _write_length(c, buf, fl, 4, f"len({src})")
        _encode_elements(ctx, c, f, version, fl, src, buf)
    elif f.elem == "records":
        c(f"n = records_size({src})")
        _write_length(c, buf, fl, 4, "n")
        c(f"out = append_records(chunks, {src})")
    else:
        _encode_blob(c, f.elem, fl, src, buf)


def _encode_blob(c: Code, elem: str, fl: bool, src: str, buf: str) -> None:
    data = src
    if elem == "string":
        data = c.temp()
        c(f"{data} = {src}.encode()")
    _write_length(c, buf, fl, 2 if elem == "string" else 4, f"len({data})")
    c(f"{buf} += {data}")


def _encode_elements(
    ctx: ModuleContext, c: Code, f: FieldDef, version: int, fl: bool, src: str, buf: str
) -> None:
    if f.elem in FIXED_FORMATS:
        if f.elem == "uuid":
            item = c.temp()
            with c.block(f"for {item} in {src}:"):
                c(f"{buf} += UUID.pack({item})")
        else:
            fmt = FIXED_FORMATS[f.elem][0]
            c(f'{buf} += pack(f">{{len({src})}}{fmt}", *{src})')
        return
    item = c.temp()
    with c.block(f"for {item} in {src}:"):
        if f.struct is not None:
            fn = ctx.encoders[(f.struct.ident, version)]
            if f.struct.chunked:
                c(f"out = {fn}(v, {item}, out, chunks)")
            else:
                c(f"{fn}(v, {item}, {buf})")
        else:
            _encode_blob(c, f.elem, fl, item, buf)


def _encode_struct(
    ctx: ModuleContext,
    c: Code,
    f: FieldDef,
    version: int,
    src: str,
    buf: str,
    *,
    nullable: bool,
    tagged: bool,
) -> None:
    assert f.struct is not None
    fn = ctx.encoders[(f.struct.ident, version)]

    def call(value: str) -> None:
        if f.struct is not None and f.struct.chunked:
            c(f"out = {fn}(v, {value}, out, chunks)")
        else:
            c(f"{fn}(v, {value}, {buf})")

    if not f.optional:
        call(src)
        return
    value = c.temp()
    c(f"{value} = {src}")
    if nullable and not tagged:
        with c.block(f"if {value} is None:"):
            c(f"{buf}.append(255)")
        with c.block("else:"):
            c(f"{buf}.append(1)")
            call(value)
        return
    with c.block(f"if {value} is None:"):
        c(f"{value} = {ctx.alias(f.struct)}()")
    call(value)
