"""What the worker's operator allows connectors to touch on the worker's own machine.

Connector configs arrive over the REST API from whoever can reach it; the local files and
directories a connector may read or write must therefore be decided by the worker's
configuration, never by the connector's. The runtime installs one ``WorkerPolicy`` per process
(one worker runs per process) and connectors ask it through ``current()``: the FileStream
connectors for their ``file``, the S3 sink for a ``file://`` ``store.url``. Connectors see only
this SPI, so the policy lives here rather than in the runtime.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from brook.connect.api.errors import ConfigException


@dataclass(frozen=True)
class WorkerPolicy:
    file_dirs: tuple[Path, ...] = ()
    """Directories FileStreamSource/FileStreamSink may read and write (``file.connectors.allowed.dirs``)."""
    store_roots: tuple[Path, ...] = ()
    """Directories a ``file://`` S3 store may live under (``s3.file.store.root`` and the worker's
    own ``BROOK_S3_DEFAULT_STORE_URL``)."""


_current = WorkerPolicy()


def install(policy: WorkerPolicy) -> None:
    global _current
    _current = policy


def current() -> WorkerPolicy:
    return _current


def has_control_chars(text: str) -> bool:
    """ISO control characters (Java's ``Character.isISOControl``): U+0000-U+001F, U+007F-U+009F."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def confine(key: str, path: str, roots: Sequence[Path]) -> Path:
    """``path`` with symlinks resolved, if it lies inside one of ``roots``; else ``ConfigException``.

    ``..`` segments are refused outright rather than resolved, so that what the user wrote and
    what is opened cannot differ. The path need not exist yet (a sink's output file), but its
    existing ancestors are resolved, so a symlink inside an allowed directory that points out of
    it is caught.
    """
    if not path or has_control_chars(path):
        raise ConfigException(key, path, "Must be a path without control characters")
    if ".." in Path(path).parts:
        raise ConfigException(key, path, "Must not contain '..' segments")
    if not os.path.isabs(path):
        raise ConfigException(key, path, "Must be an absolute path")
    if not roots:
        raise ConfigException(key, path, "No local directory is allowed by the worker's "
                                         "configuration")
    resolved = Path(os.path.realpath(path))
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if resolved == real_root or resolved.is_relative_to(real_root):
            return resolved
    allowed = ", ".join(str(r) for r in roots)
    raise ConfigException(key, path, f"Must be inside a directory the worker allows ({allowed})")


def _opened_dir(key: str, fd: int) -> str:
    """The path of the directory ``fd`` refers to, as the kernel sees it (Linux ``/proc``)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        raise ConfigException(key, None, "Cannot confirm where the opened directory lies "
                                         "(local files need /proc)") from None


def open_confined(key: str, path: str, roots: Sequence[Path], flags: int,
                  mode: int = 0o644) -> int:
    """A descriptor of ``path`` opened only where ``confine`` allows, for a task to use.

    Checking a path and then opening it by name leaves a window in which a directory on the
    way, or the file itself, can be replaced by a symlink that leads out of the allowed
    directories. So the parent directory is opened first and the place the kernel actually
    opened is checked; the file is then opened relative to that descriptor, refusing a symlink
    as its last component. What is opened is therefore what was checked.
    """
    resolved = confine(key, path, roots)
    parent = os.open(resolved.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        confine(key, _opened_dir(key, parent), roots)
        return os.open(resolved.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent)
    finally:
        os.close(parent)
