"""Command line: ``python -m tools.codegen --schemas DIR --out src/brook/protocol --test-out DIR``.

Writes every generated module and removes generated modules that no longer correspond to a
schema, so the committed tree always equals a fresh run (a test checks this byte for byte).
Only files carrying the generated header are ever deleted. ``--out`` receives what the broker
decodes and encodes; ``--test-out`` the client directions only tests need (see
``tools/codegen/directions.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.codegen.directions import client_only_directions, is_removed, server_directions
from tools.codegen.emit_module import HEADER, emit_client_module, emit_module
from tools.codegen.layout import (
    PACKAGES,
    emit_client_registry,
    emit_registry,
    plan_modules,
    record_types,
)
from tools.codegen.loader import load_all


def generate(schemas_dir: Path, out_dir: Path) -> dict[Path, str]:
    """Map every output path (relative to ``out_dir``) to its source text."""
    plans = plan_modules([s for s in load_all(schemas_dir) if not is_removed(s)])
    files: dict[Path, str] = {}
    for plan in plans:
        types = {s.name: t for s in plan.schemas if (t := record_types(s)) is not None}
        text = emit_module(plan.schemas, types, server_directions)
        files[Path(plan.package) / f"{plan.module}.py"] = text
    for package in PACKAGES:
        files[Path(package) / "__init__.py"] = emit_registry(package, plans)
    return files


def generate_client(schemas_dir: Path) -> dict[Path, str]:
    """Map every test-only module (relative to the test package) to its source text."""
    plans = plan_modules([s for s in load_all(schemas_dir) if not is_removed(s)])
    files: dict[Path, str] = {}
    modules: list[str] = []
    for plan in plans:
        src_module = f"brook.protocol.{plan.package}.{plan.module}"
        text = emit_client_module(src_module, plan.schemas, client_only_directions)
        if text is not None:
            files[Path(f"{plan.module}.py")] = text
            modules.append(plan.module)
    files[Path("__init__.py")] = emit_client_registry(modules)
    return files


def write(files: dict[Path, str], out_dir: Path, packages: tuple[str, ...] = PACKAGES) -> int:
    """Write changed files, delete stale generated ones; return how many files changed."""
    changed = 0
    for package in packages:
        pkg_dir = out_dir / package
        pkg_dir.mkdir(parents=True, exist_ok=True)
        for existing in sorted(pkg_dir.glob("*.py")):
            rel = Path(package) / existing.name
            if rel not in files and existing.read_text("utf-8").startswith(HEADER):
                existing.unlink()
                changed += 1
    for rel, text in sorted(files.items()):
        path = out_dir / rel
        if path.exists() and path.read_text("utf-8") == text:
            continue
        path.write_text(text, "utf-8")
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.codegen", description=__doc__)
    parser.add_argument("--schemas", type=Path, required=True, help="kafka-protocol directory")
    parser.add_argument("--out", type=Path, required=True, help="the brook/protocol package")
    parser.add_argument("--test-out", type=Path, required=True, help="the test-only codec package")
    args = parser.parse_args(argv)
    files = generate(args.schemas, args.out)
    changed = write(files, args.out)
    client = generate_client(args.schemas)
    changed += write(client, args.test_out, packages=(".",))
    print(f"codegen: {len(files) + len(client)} files, {changed} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
