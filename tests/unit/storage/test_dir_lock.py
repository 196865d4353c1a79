"""One process per data directory: a second holder is refused before it touches a file, and
a holder killed with -9 leaves no stale lock behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from brook.storage.dir_lock import LOCK_FILE, DirLocks
from brook.storage.errors import LogDirError


def test_a_second_holder_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    first = DirLocks([tmp_path / "a", tmp_path / "b"])
    try:
        with pytest.raises(LogDirError, match="in use by another broker process"):
            DirLocks([tmp_path / "c", tmp_path / "b"])
        # The refused attempt released what it had taken: "c" is free.
        DirLocks([tmp_path / "c"]).release()
    finally:
        first.release()
    DirLocks([tmp_path / "a", tmp_path / "b"]).release()
    assert (tmp_path / "a" / LOCK_FILE).exists()


def test_the_same_directory_named_twice_is_one_lock(tmp_path: Path) -> None:
    locks = DirLocks([tmp_path / "d", tmp_path / "x" / ".." / "d"])
    locks.release()


def test_a_holder_killed_with_9_leaves_the_directory_free(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from brook.storage.dir_lock import "
            "DirLocks; DirLocks([Path(sys.argv[1])]); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "d")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LogDirError):
            DirLocks([tmp_path / "d"])
    finally:
        child.kill()
        child.wait()
    DirLocks([tmp_path / "d"]).release()
