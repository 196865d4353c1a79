"""A FileStream task opens the file it checked, even while someone swaps symlinks under it.

``confine`` resolves symlinks and checks the result, but a check followed by ``open(path)``
leaves a window in which a directory of the path, or the file itself, can become a symlink
that leads out of the allowed directory. The task must open what lies inside, or nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from brook.connect.api import ConfigException, WorkerPolicy, policy
from brook.connect.connectors.file.sink import FileStreamSinkTask


@pytest.fixture
def allowed(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "allowed"
    root.mkdir()
    before = policy.current()
    policy.install(WorkerPolicy(file_dirs=(root,)))
    yield root
    policy.install(before)


def _swap_forever(stop: threading.Event, link: Path, inside: Path, outside: Path) -> None:
    """Flip ``link`` between a real directory and a symlink to ``outside``."""
    while not stop.is_set():
        os.rename(inside, link)
        os.rename(link, inside)
        os.symlink(outside, link)
        os.unlink(link)
        os.rename(inside, link)
        os.rename(link, inside)


def test_directory_swapped_for_a_symlink_is_never_followed(allowed: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    inside = allowed / "real"
    inside.mkdir()
    link = allowed / "sub"
    stop = threading.Event()
    flipper = threading.Thread(target=_swap_forever, args=(stop, link, inside, outside))
    flipper.start()
    opened = 0
    deadline = time.monotonic() + 3
    try:
        while time.monotonic() < deadline and not list(outside.iterdir()):
            task = FileStreamSinkTask()
            try:
                task.start({"file": str(link / "out.txt")})
            except (ConfigException, OSError):
                continue
            opened += 1
            task.stop()
    finally:
        stop.set()
        flipper.join()
    assert list(outside.iterdir()) == [], "a task created a file outside the allowed directory"
    assert opened > 0


def test_final_symlink_is_refused_at_open(allowed: Path, tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("keep\n")
    (allowed / "out.txt").symlink_to(target)
    task = FileStreamSinkTask()
    with pytest.raises((ConfigException, OSError)):
        task.start({"file": str(allowed / "out.txt")})
    assert target.read_text() == "keep\n"


def test_path_spellings(allowed: Path, tmp_path: Path) -> None:
    """Spellings that name a place outside (or nothing definite) are refused; harmless
    spellings of an inside path resolve inside."""
    from brook.connect.api import confine

    roots = (allowed,)
    outside = [
        str(allowed / ".." / "x"), str(allowed) + "/%2e%2e/../x", str(allowed / "a\x00b"),
        str(allowed).replace("allowed", "allowed\u2024\u2024/..") + "/x", "relative/x", "",
        str(allowed) + "x/y",  # a sibling that shares the prefix
    ]
    for path in outside:
        with pytest.raises(ConfigException):
            confine("file", path, roots)
    assert confine("file", str(allowed) + "//a/./b", roots) == allowed / "a" / "b"
    assert confine("file", "/" + str(allowed / "a"), roots) == allowed / "a"  # Linux: '//' is '/'
    assert confine("file", str(allowed / "%2e%2e" / "x"), roots) == allowed / "%2e%2e" / "x"
    assert confine("file", str(allowed / "\uff0e\uff0e" / "x"), roots).is_relative_to(allowed)
