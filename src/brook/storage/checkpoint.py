"""Crash-safe small files: ``atomic_write`` and Kafka's text checkpoint files.

A log directory holds a few small files that say how far the logs in it can be trusted
(``recovery-point-offset-checkpoint``, ``log-start-offset-checkpoint``,
``replication-offset-checkpoint``) and, per partition, a ``leader-epoch-checkpoint``. They
use Kafka's format so an operator who knows Kafka can read them::

    0                 <- format version
    2                 <- number of entries
    orders 0 1500     <- one entry per line, space separated
    orders 1 1320

A crash must leave either the old file or the new one, never a mix, so every write goes
through :func:`atomic_write` (docs/architecture.md, Rules).

The offset checkpoints name topics, and a name is one whitespace-free token. Legal topic
names always are, but a name that reached the metadata by another way (an older version's
looser check) must not make the file unreadable, and an unreadable offset checkpoint must not
stop the broker: the writer leaves out an entry it cannot write as one line, and the reader
skips a line it cannot parse (the log then recovers from its start: slower, never wrong).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Generic, NamedTuple, TypeVar

from brook.env import fs
from brook.storage.errors import LogDirError

__all__ = [
    "LEADER_EPOCH_CHECKPOINT_FILENAME",
    "LOG_START_OFFSET_CHECKPOINT_FILENAME",
    "RECOVERY_POINT_CHECKPOINT_FILENAME",
    "REPLICATION_OFFSET_CHECKPOINT_FILENAME",
    "CheckpointFile",
    "CorruptCheckpointError",
    "EpochEntry",
    "LeaderEpochCheckpointFile",
    "OffsetCheckpointFile",
    "atomic_write",
]

RECOVERY_POINT_CHECKPOINT_FILENAME = "recovery-point-offset-checkpoint"
LOG_START_OFFSET_CHECKPOINT_FILENAME = "log-start-offset-checkpoint"
REPLICATION_OFFSET_CHECKPOINT_FILENAME = "replication-offset-checkpoint"
LEADER_EPOCH_CHECKPOINT_FILENAME = "leader-epoch-checkpoint"

_VERSION = 0

T = TypeVar("T")

log = logging.getLogger(__name__)


class CorruptCheckpointError(LogDirError):
    """A checkpoint file exists but cannot be parsed. Kafka treats this as a failure of the
    log directory (``KAFKA_STORAGE_ERROR``) rather than guessing at the contents."""


def atomic_write(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash at any point leaves the old or the new file.

    Write a sibling temporary file, fsync it, rename it over the target (atomic on POSIX),
    then fsync the directory so the rename itself is durable. ``durable=False`` skips both
    fsyncs, for files that can be rebuilt from elsewhere (their readers must then accept an
    empty or missing file after a crash).
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            fs.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    if durable:
        fsync_dir(target.parent)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make renames and unlinks inside ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fs.fsync(fd)
    finally:
        os.close(fd)


class CheckpointFile(Generic[T]):
    """A versioned list of entries, one per line (Kafka's ``CheckpointFile``).

    ``format_entry`` turns an entry into its line; ``parse_entry`` turns the fields of a line
    back into an entry and raises ``ValueError`` when they make no sense.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format_entry: Callable[[T], str],
        parse_entry: Callable[[list[str]], T],
        version: int = _VERSION,
        *,
        lenient: bool = False,
    ) -> None:
        """``lenient``: skip (with a warning) lines that do not parse, and accept a count that
        does not match, instead of raising ``CorruptCheckpointError``."""
        self.path = Path(path)
        self._format_entry = format_entry
        self._parse_entry = parse_entry
        self._version = version
        self._lenient = lenient

    def write(self, entries: Iterable[T]) -> None:
        lines = [self._format_entry(entry) for entry in entries]
        text = f"{self._version}\n{len(lines)}\n" + "".join(line + "\n" for line in lines)
        atomic_write(self.path, text.encode("utf-8"))

    def read(self) -> list[T]:
        """The entries, or an empty list if the file does not exist yet."""
        try:
            text = self.path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return []
        except UnicodeDecodeError as exc:
            if not self._lenient:
                raise self._malformed("not UTF-8 text") from exc
            log.warning("%s; its entries are ignored", self._malformed("not UTF-8 text"))
            return []
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        try:
            return self._parse_lines(lines)
        except CorruptCheckpointError as exc:
            if not self._lenient:
                raise
            log.warning("%s; its entries are ignored", exc)
            return []

    def _parse_lines(self, lines: list[str]) -> list[T]:
        if len(lines) < 2:
            raise self._malformed("missing version or entry count")
        if lines[0].strip() != str(self._version):
            raise self._malformed(f"unrecognised version {lines[0]!r}, expected {self._version}")
        try:
            count = int(lines[1])
        except ValueError:
            raise self._malformed(f"entry count {lines[1]!r} is not a number") from None
        entries = lines[2:]
        if count != len(entries):
            if not self._lenient:
                raise self._malformed(f"expected {count} entries but found {len(entries)}")
            log.warning("%s", self._malformed(f"expected {count} entries, found {len(entries)}"))
        result = []
        for line in entries:
            try:
                result.append(self._parse_entry(line.split()))
            except (ValueError, IndexError):
                if not self._lenient:
                    raise self._malformed(f"malformed line {line!r}") from None
                log.warning("%s", self._malformed(f"skipping malformed line {line!r}"))
        return result

    def _malformed(self, reason: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"malformed checkpoint file {self.path}: {reason}")


def _format_offset_entry(entry: tuple[tuple[str, int], int]) -> str:
    (topic, partition), offset = entry
    return f"{topic} {partition} {offset}"


_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def _parse_number(text: str, high: int) -> int:
    """A non-negative decimal of ASCII digits up to ``high`` (Java's ``parseLong`` range).
    Python's ``int`` also takes ``1_0`` and non-ASCII digits, and has no bound: an edited or
    foreign file could then hand the log an offset no protocol field can carry."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{text!r} is not a non-negative decimal number")
    value = int(text)
    if value > high:
        raise ValueError(f"{text} is out of range")
    return value


def _parse_offset_entry(fields: list[str]) -> tuple[tuple[str, int], int]:
    if len(fields) != 3:
        raise ValueError("expected: topic partition offset")
    return (fields[0], _parse_number(fields[1], _INT32_MAX)), _parse_number(fields[2], _INT64_MAX)


def writable_topic(topic: str) -> bool:
    """Whether ``topic`` reads back as the same single field of a checkpoint line."""
    return topic.split() == [topic]


class OffsetCheckpointFile:
    """(topic, partition) -> offset, for the per-log-directory offset checkpoints
    (recovery point, log start offset, replication high watermark).

    ``lenient`` (the default) suits the recovery points and log starts, whose missing entry
    only costs a longer recovery. The high watermarks are read strictly: a missing entry
    would start its partition at 0 silently, so a file that does not parse is a
    ``CorruptCheckpointError`` naming it, for the operator to look at, as in Kafka."""

    def __init__(self, path: str | os.PathLike[str], *, lenient: bool = True) -> None:
        self._file: CheckpointFile[tuple[tuple[str, int], int]] = CheckpointFile(
            path, _format_offset_entry, _parse_offset_entry, lenient=lenient
        )

    @property
    def path(self) -> Path:
        return self._file.path

    def write(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Write the entries; one whose topic cannot be written as one field is left out
        (its log recovers from the start instead)."""
        entries = []
        for (topic, partition), offset in sorted(offsets.items()):
            if writable_topic(topic):
                entries.append(((topic, partition), offset))
            else:
                log.warning("%s: leaving out partition %d of topic %r, whose name cannot be "
                            "written as one field", self.path.name, partition, topic)
        self._file.write(entries)

    def read(self) -> dict[tuple[str, int], int]:
        return dict(self._file.read())


class EpochEntry(NamedTuple):
    """A leader epoch and the first offset written in it (Kafka's ``EpochEntry``)."""

    epoch: int
    start_offset: int


def _parse_epoch_entry(fields: list[str]) -> EpochEntry:
    if len(fields) != 2:
        raise ValueError("expected: epoch start_offset")
    return EpochEntry(_parse_number(fields[0], _INT32_MAX), _parse_number(fields[1], _INT64_MAX))


class LeaderEpochCheckpointFile:
    """The ``leader-epoch-checkpoint`` of a partition: ``epoch start_offset`` lines."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file: CheckpointFile[EpochEntry] = CheckpointFile(
            path, lambda e: f"{e.epoch} {e.start_offset}", _parse_epoch_entry
        )

    @classmethod
    def in_dir(cls, partition_dir: str | os.PathLike[str]) -> LeaderEpochCheckpointFile:
        return cls(Path(partition_dir) / LEADER_EPOCH_CHECKPOINT_FILENAME)

    @property
    def path(self) -> Path:
        return self._file.path

    def write(self, entries: Iterable[EpochEntry]) -> None:
        self._file.write(entries)

    def read(self) -> list[EpochEntry]:
        return self._file.read()
