"""Shared state while emitting one module: a line builder and per-module name tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tools.codegen.model import FIXED_FORMATS, FieldDef, StructDef

_FORMAT_NAMES = {"b": "b", "h": "h", "i": "i", "q": "q", "H": "H", "I": "I", "d": "d", "?": "o", "16s": "u"}


class Code:
    """Indented source lines; ``block`` opens a suite under a header line."""

    def __init__(self, level: int = 1) -> None:
        self.lines: list[str] = []
        self.level = level
        self._temp = 0

    def __call__(self, text: str) -> None:
        self.lines.append("    " * self.level + text)

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        self(header)
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    @property
    def indent(self) -> str:
        return "    " * self.level

    def temp(self) -> str:
        """A fresh local name, so that mypy sees one type per variable."""
        self._temp += 1
        return f"t{self._temp}"


class ModuleContext:
    """Names shared by all functions of one generated module.

    Structs for groups of fixed-width fields are created once per module and named by their
    format (``_S_hiq``); decode/encode functions are named per struct and layout variant.
    """

    def __init__(self) -> None:
        self.formats: dict[str, str] = {}
        self.decoders: dict[tuple[str, int], str] = {}
        self.encoders: dict[tuple[str, int], str] = {}
        self.default_checks: dict[str, StructDef] = {}

    def struct_for(self, fields: list[FieldDef]) -> tuple[str, int]:
        """The module-level Struct for a group of fixed-width fields, and its size."""
        fmt = "".join(FIXED_FORMATS[f.elem][0] for f in fields)
        size = sum(FIXED_FORMATS[f.elem][1] for f in fields)
        name = self.formats.get(fmt)
        if name is None:
            suffix = "".join(_FORMAT_NAMES[FIXED_FORMATS[f.elem][0]] for f in fields)
            name = f"_S_{suffix}"
            self.formats[fmt] = name
        return name, size

    @staticmethod
    def alias(struct: StructDef) -> str:
        """Module-level alias of a (possibly nested) class, one global lookup at call time."""
        return f"_K_{struct.ident}"

    def default_check(self, struct: StructDef) -> str:
        """Name of a module-level "all fields at default?" function, used to skip tagged structs."""
        self.default_checks[struct.ident] = struct
        return f"_z_{struct.ident}"


def fixed_groups(fields: list[FieldDef], unguarded: Callable[[FieldDef], bool]) -> list[list[FieldDef]]:
    """Split fields into runs: neighbouring fixed-width scalars without a guard share one run."""
    runs: list[list[FieldDef]] = []
    for f in fields:
        fixed = not f.is_array and f.elem in FIXED_FORMATS and unguarded(f)
        if fixed and runs and _is_fixed_run(runs[-1], unguarded):
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def _is_fixed_run(run: list[FieldDef], unguarded: Callable[[FieldDef], bool]) -> bool:
    first = run[0]
    return not first.is_array and first.elem in FIXED_FORMATS and unguarded(first)


def version_guard(f: FieldDef, versions: list[int]) -> str | None:
    """The condition on ``v`` under which ``f`` is present, or None if every version has it."""
    lo = f.versions.lo > versions[0]
    hi = f.versions.hi < versions[-1]
    if lo and hi:
        return f"{f.versions.lo} <= v <= {f.versions.hi}"
    if lo:
        return f"v >= {f.versions.lo}"
    if hi:
        return f"v <= {f.versions.hi}"
    return None


def run_patterns(run: list[FieldDef], versions: list[int]) -> list[tuple[str | None, list[FieldDef]]]:
    """The fields of a fixed-width run each version has, as (condition on ``v``, fields) pairs.

    Neighbouring fixed-width fields are read with one ``unpack_from`` even when some versions
    lack some of them: a short if/elif chain picks the Struct for the version, which costs a
    guard or two instead of one ``unpack_from`` per guarded field. The last pair's condition
    is None (the ``else``).
    """
    by_pattern: dict[tuple[str, ...], list[int]] = {}
    for v in versions:
        key = tuple(f.py_name for f in run if v in f.versions)
        by_pattern.setdefault(key, []).append(v)
    out: list[tuple[str | None, list[FieldDef]]] = []
    items = list(by_pattern.items())
    for i, (key, vs) in enumerate(items):
        fields = [f for f in run if f.py_name in key]
        if i == len(items) - 1:
            out.append((None, fields))
        elif vs == list(range(vs[0], vs[-1] + 1)):
            lo, hi = vs[0] > versions[0], vs[-1] < versions[-1]
            cond = (
                f"{vs[0]} <= v <= {vs[-1]}" if lo and hi else f"v >= {vs[0]}" if lo else f"v <= {vs[-1]}"
            )
            out.append((cond, fields))
        else:
            out.append((f"v in {{{', '.join(map(str, vs))}}}", fields))
    return out
