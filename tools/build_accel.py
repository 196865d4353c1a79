"""Compile the produce path's per-record walk (``brook.records.validate``) with mypyc.

``python -m tools.build_accel`` writes ``validate.cpython-*.so`` next to ``validate.py``;
Python then imports the extension in place of the source, which walks records about fifteen
times faster (bench/RESULTS.md, "Record validation"). The source stays the reference: without
a C compiler the build is skipped and the same code runs interpreted, with the same results
(``tests/unit/records/test_validate.py`` checks the two agree). ``--clean`` removes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
MODULES = ["brook/records/validate.py"]


def clean() -> None:
    for module in MODULES:
        for built in (SRC / module).parent.glob(Path(module).stem + "*.so"):
            built.unlink()


def build() -> int:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        print("build_accel: no C compiler; the interpreted records walk will be used")
        return 0
    clean()
    mypyc = Path(sys.executable).with_name("mypyc")
    with tempfile.TemporaryDirectory() as work:
        # mypyc builds under ./build and places the extension by module path relative to the
        # working directory: build in a copy of the sources, then move the .so into src/.
        tree = Path(work) / "src"
        for module in MODULES:
            target = tree / module
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SRC / module, target)
        for package in {Path(m).parent for m in MODULES}:
            for parent in [package, *package.parents][:-1]:
                (tree / parent / "__init__.py").touch()
        result = subprocess.run([str(mypyc), *MODULES], cwd=tree, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
            print("build_accel: mypyc failed; the interpreted records walk will be used")
            return 0
        for module in MODULES:
            for built in (tree / module).parent.glob(Path(module).stem + "*.so"):
                shutil.move(built, (SRC / module).parent / built.name)
                print(f"build_accel: built {(SRC / module).parent / built.name}")
    return 0


if __name__ == "__main__":
    if "--clean" in sys.argv:
        clean()
        sys.exit(0)
    sys.exit(build())
