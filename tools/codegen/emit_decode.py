"""Emit the body of one decode function: one struct over a run of versions (``v`` guards).

The emitted code reads straight from a ``memoryview``: neighbouring fixed-width fields with one
``unpack_from``, one-byte varints inline, and every length checked against the buffer before
slicing (Python slicing would silently truncate). Values are stored into the slots of an
instance made with ``object.__new__``, skipping ``__init__``. Fields absent at this version
get their defaults; unknown tagged fields are skipped.
"""

from __future__ import annotations

from tools.codegen.context import Code, ModuleContext, fixed_groups, run_patterns, version_guard
from tools.codegen.model import FIXED_FORMATS, FieldDef, Schema, StructDef
from tools.codegen.pytypes import SINGLE_STRUCTS, default_expr, py_type


def decode_body(ctx: ModuleContext, schema: Schema, struct: StructDef, versions: list[int]) -> list[str]:
    """One function for ``versions``: fields some of them lack are read under a version guard."""
    version = versions[0]
    flex = schema.is_flexible(version)
    c = Code()
    c(f"self = _new({ctx.alias(struct)})")
    present = [f for f in struct.fields if any(f.regular_at(v, flex) for v in versions)]
    pending: list[list[str]] = []
    for run in fixed_groups(present, lambda f: True):
        first = run[0]
        guard = version_guard(first, versions)
        if not first.is_array and first.elem in FIXED_FORMATS:
            patterns = run_patterns(run, versions)
            for i, (cond, fields) in enumerate(patterns):
                if len(patterns) == 1:
                    _unpack_run(ctx, c, fields, run)
                    continue
                with c.block("else:" if cond is None else f"{'if' if i == 0 else 'elif'} {cond}:"):
                    _unpack_run(ctx, c, fields, run)
        elif guard is not None:
            # Neighbours under the same guard share its block (one test instead of several).
            if c.lines and c.lines[-1] == f"{c.indent}{_ELSE_MARK}{guard}":
                c.lines.pop()
                defaults = pending.pop()
            else:
                c(f"if {guard}:")
                defaults = []
            c.level += 1
            at = next(v for v in versions if v in first.versions)
            decode_field(ctx, c, first, at, flex, f"self.{first.py_name}", tagged=False)
            c.level -= 1
            defaults.append(f"self.{first.py_name} = {default_expr(ctx, first)}")
            pending.append(defaults)
            c(f"{_ELSE_MARK}{guard}")
        else:
            decode_field(ctx, c, first, version, flex, f"self.{first.py_name}", tagged=False)
    for f in struct.fields:
        if f not in present:
            c(f"self.{f.py_name} = {default_expr(ctx, f)}")
    if flex:
        _decode_tags(ctx, c, struct, version)
    c("return self, pos")
    return _close_guards(c, pending)


_ELSE_MARK = "#else-of "


def _close_guards(c: Code, pending: list[list[str]]) -> list[str]:
    """Replace each guard's end marker with its ``else:`` block of defaults."""
    out: list[str] = []
    blocks = iter(pending)
    for line in c.lines:
        stripped = line.lstrip()
        if stripped.startswith(_ELSE_MARK):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}else:")
            out.extend(f"{indent}    {d}" for d in next(blocks))
        else:
            out.append(line)
    return out


def _unpack_run(ctx: ModuleContext, c: Code, fields: list[FieldDef], run: list[FieldDef]) -> None:
    """Read ``fields`` with one Struct; the rest of the run takes its defaults."""
    if fields:
        name, size = ctx.struct_for(fields)
        targets = ", ".join(f"self.{f.py_name}" for f in fields)
        c(f"({targets},) = {name}.unpack_from(buf, pos)" if len(fields) == 1 else f"{targets} = {name}.unpack_from(buf, pos)")
        c(f"pos += {size}")
    for f in run:
        if f not in fields:
            c(f"self.{f.py_name} = {default_expr(ctx, f)}")


def _decode_tags(ctx: ModuleContext, c: Code, struct: StructDef, version: int) -> None:
    tagged = sorted(
        (f for f in struct.fields if f.tagged_at(version, True) and version in f.versions),
        key=lambda f: f.tag or 0,
    )
    _read_uvarint(c, "n")
    with c.block("if n:"):
        if not tagged:
            c("pos = skip_tags(buf, pos, n)")
            return
        with c.block("for _ in range(n):"):
            c("tag, pos = read_uvarint(buf, pos)")
            c("size, pos = read_uvarint(buf, pos)")
            c("tend = pos + size")
            with c.block("if tend > len(buf):"):
                c('raise short("tagged field")')
            for i, f in enumerate(tagged):
                with c.block(f"{'if' if i == 0 else 'elif'} tag == {f.tag}:"):
                    decode_field(ctx, c, f, version, True, f"self.{f.py_name}", tagged=True)
            c("pos = tend")


def _read_uvarint(c: Code, var: str) -> None:
    c(f"{var} = buf[pos]")
    c("pos += 1")
    with c.block(f"if {var} > 127:"):
        c(f"{var}, pos = read_uvarint(buf, pos - 1)")


def _read_length(c: Code, flexible: bool, width: int) -> None:
    """Leave the length (or count) in ``n``; -1 means null in both encodings."""
    if flexible:
        _read_uvarint(c, "n")
        c("n -= 1")
    else:
        c(f"(n,) = {'INT16' if width == 2 else 'INT32'}.unpack_from(buf, pos)")
        c(f"pos += {width}")


def decode_field(
    ctx: ModuleContext,
    c: Code,
    f: FieldDef,
    version: int,
    flex: bool,
    target: str,
    *,
    tagged: bool,
) -> None:
    """Decode one field (not part of a fixed-width run) into ``target``."""
    fl = f.flexible_at(version, flex)
    nullable = version in f.nullable
    if f.is_array:
        _decode_array(ctx, c, f, version, fl, nullable, target)
    elif f.elem in ("string", "bytes", "records"):
        _decode_blob(c, f.elem, f.name, fl, nullable, target)
    elif f.struct is not None:
        fn = ctx.decoders[(f.struct.ident, version)]
        if nullable and not tagged:
            with c.block("if buf[pos] & 0x80:"):
                c(f"{target} = None")
                c("pos += 1")
            with c.block("else:"):
                c(f"{target}, pos = {fn}(v, buf, pos + 1)")
        else:
            c(f"{target}, pos = {fn}(v, buf, pos)")
    else:
        size = FIXED_FORMATS[f.elem][1]
        c(f"({target},) = {SINGLE_STRUCTS[f.elem]}.unpack_from(buf, pos)")
        c(f"pos += {size}")


def _decode_blob(c: Code, elem: str, what: str, fl: bool, nullable: bool, target: str) -> None:
    """string, bytes or records: a length then that many bytes."""
    _read_length(c, fl, 2 if elem == "string" else 4)
    if elem == "string":
        value = 'str(buf[pos:end], "utf-8")'
    elif elem == "bytes":
        value = "bytes(buf[pos:end])"
    else:
        value = "buf[pos:end]"
    if nullable:
        with c.block("if n < 0:"):
            c(f"{target} = None")
        with c.block("else:"):
            _read_bytes(c, what, value, target, check_negative=False)
    else:
        _read_bytes(c, what, value, target, check_negative=True)


def _read_bytes(c: Code, what: str, value: str, target: str, *, check_negative: bool) -> None:
    c("end = pos + n")
    cond = "n < 0 or end > len(buf)" if check_negative else "end > len(buf)"
    with c.block(f"if {cond}:"):
        c(f'raise bad_length("{what}", n)')
    c(f"{target} = {value}")
    c("pos = end")


def _decode_array(
    ctx: ModuleContext, c: Code, f: FieldDef, version: int, fl: bool, nullable: bool, target: str
) -> None:
    _read_length(c, fl, 4)
    if nullable:
        with c.block("if n < 0:"):
            c(f"{target} = None")
        with c.block("else:"):
            _decode_elements(ctx, c, f, version, fl, target)
    else:
        _decode_elements(ctx, c, f, version, fl, target, check_negative=True)


def _decode_elements(
    ctx: ModuleContext,
    c: Code,
    f: FieldDef,
    version: int,
    fl: bool,
    target: str,
    *,
    check_negative: bool = False,
) -> None:
    # Every element takes at least one byte, so a count beyond the remaining bytes is a lie;
    # refusing it up front keeps a hostile count from allocating or looping.
    cond = "n < 0 or n > len(buf) - pos" if check_negative else "n > len(buf) - pos"
    with c.block(f"if {cond}:"):
        c(f'raise bad_length("{f.name}", n)')
    if f.elem in FIXED_FORMATS:
        fmt, size = FIXED_FORMATS[f.elem]
        c(f"end = pos + n * {size}")
        with c.block("if end > len(buf):"):
            c(f'raise bad_length("{f.name}", n)')
        if f.elem == "uuid":
            c(f"{target} = [bytes(buf[p:p + 16]) for p in range(pos, end, 16)]")
        else:
            c(f'{target} = list(unpack_from(f">{{n}}{fmt}", buf, pos))')
        c("pos = end")
        return
    items = c.temp()
    item = c.temp()
    c(f"{items}: list[{py_type(f, element=True)}] = []")
    with c.block("for _ in range(n):"):
        if f.struct is not None:
            c(f"{item}, pos = {ctx.decoders[(f.struct.ident, version)]}(v, buf, pos)")
        else:
            _decode_blob(c, f.elem, f.name, fl, False, item)
        c(f"{items}.append({item})")
    c(f"{target} = {items}")
