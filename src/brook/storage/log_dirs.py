"""Names of the directories in a log directory, and what start-up does with each.

A log directory holds one ``<topic>-<partition>`` directory per partition log, the metadata
log ``__cluster_metadata-0`` (opened by the Raft client, never as a partition), directories
renamed for deletion (``<topic prefix>-<partition>.<uuid>-delete``) and set-aside strays
(``...-stray``). Kafka's naming is kept so an operator who knows Kafka reads the same layout.

Deleted data must never come back. The metadata log is the truth of which topics exist and
under which topic id; a directory is renamed for deletion when the metadata does not know its
topic, or knows the name under another topic id (a deleted topic whose directory a crash kept,
then a new topic of the same name). The rename target must fit in a file name (255 bytes), so
the topic part is shortened as Kafka does; a 249-character topic still gets a unique name.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from brook.storage.checkpoint import fsync_dir
from brook.storage.log_config import LogConfig
from brook.storage.log_loader import PARTITION_METADATA_FILE, read_partition_metadata
from brook.storage.segment import LOG_FILE_SUFFIX

__all__ = [
    "CLUSTER_METADATA_TOPIC",
    "DELETE_DIR_SUFFIX",
    "MAX_FILE_NAME_LENGTH",
    "STRAY_DIR_SUFFIX",
    "DirKind",
    "HostedLog",
    "classify",
    "has_records",
    "mtime_ns",
    "parse_topic_partition",
    "set_aside",
    "set_aside_leftover",
    "set_aside_name",
    "trusted_checkpoint_offsets",
    "vet_partition_dir",
]

CLUSTER_METADATA_TOPIC = "__cluster_metadata"
DELETE_DIR_SUFFIX = "-delete"
STRAY_DIR_SUFFIX = "-stray"
MAX_FILE_NAME_LENGTH = 255

TopicPartition = tuple[str, int]

log = logging.getLogger(__name__)


class HostedLog(NamedTuple):
    """What the metadata says about a partition this broker hosts: the topic's effective
    configuration and its topic id."""

    config: LogConfig
    topic_id: bytes


class DirKind(Enum):
    PARTITION = "partition"
    METADATA = "metadata"
    DELETED = "deleted"
    STRAY = "stray"
    OTHER = "other"


def parse_topic_partition(dir_name: str) -> TopicPartition:
    """Kafka's rule: the partition is after the LAST '-' (topics may contain '-'). Only the
    canonical spelling brook writes counts (ASCII digits, no leading zero): ``t-03`` or a
    partition in other scripts' digits would name the same partition as ``t-3``."""
    topic, dash, partition = dir_name.rpartition("-")
    if (
        not dash or not topic or not (partition.isascii() and partition.isdigit())
        or str(int(partition)) != partition
    ):
        raise ValueError(f"{dir_name!r} is not a <topic>-<partition> directory name")
    return topic, int(partition)


def classify(dir_name: str) -> tuple[DirKind, TopicPartition | None]:
    """What a directory found in a log directory is."""
    if dir_name.endswith(DELETE_DIR_SUFFIX):
        return DirKind.DELETED, None
    if dir_name.endswith(STRAY_DIR_SUFFIX):
        return DirKind.STRAY, None
    try:
        tp = parse_topic_partition(dir_name)
    except ValueError:
        return DirKind.OTHER, None
    if tp[0] == CLUSTER_METADATA_TOPIC:
        return DirKind.METADATA, tp
    return DirKind.PARTITION, tp


def set_aside_name(topic: str, partition: int, suffix: str = DELETE_DIR_SUFFIX) -> str:
    """Kafka's ``<topic prefix>-<partition>.<uuid><suffix>``, the topic cut so that the name
    fits in ``MAX_FILE_NAME_LENGTH`` bytes."""
    tail = f"-{partition}.{uuid.uuid4().hex}{suffix}"
    encoded = topic.encode("utf-8")[: MAX_FILE_NAME_LENGTH - len(tail.encode("utf-8"))]
    return encoded.decode("utf-8", errors="ignore") + tail


def set_aside(
    directory: Path, topic: str, partition: int, suffix: str = DELETE_DIR_SUFFIX,
    *, durable: bool = True,
) -> Path:
    """Rename a partition directory out of the way and return its new path. ``durable=False``
    leaves the fsync of the parent directory to the caller (one for many renames); a rename
    a crash undoes is found again at start-up, by the topic id check."""
    target = directory.with_name(set_aside_name(topic, partition, suffix))
    os.replace(directory, target)
    if durable:
        fsync_dir(target.parent)
    return target


def has_records(directory: Path) -> bool:
    """Whether any segment file of the directory holds bytes."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return False
    for entry in entries:
        if entry.name.endswith(LOG_FILE_SUFFIX):
            try:
                if entry.stat().st_size > 0:
                    return True
            except FileNotFoundError:
                continue
    return False


def mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def vet_partition_dir(
    path: Path, tp: TopicPartition, expected: HostedLog | None
) -> tuple[bool, Path | None]:
    """Whether a partition directory found at start-up is the log the metadata expects
    (``expected``, None when its topic is unknown). If not, it is set aside: renamed for
    deletion (the new path is returned, to be removed), or kept as a ``-stray`` when it holds
    records but no topic id (Kafka writes the id durably before the first append, so that
    comes from a storage fault and is left to the operator)."""
    stored = read_partition_metadata(path)
    if expected is not None and stored == expected.topic_id:
        return True, None
    if expected is None:
        reason = "its topic is not in the metadata (deleted)"
    elif stored is None:
        reason = "it has no topic id"
    else:
        reason = "its topic id is not the topic's (a deleted topic of the same name)"
    if stored is None and has_records(path):
        target = set_aside(path, tp[0], tp[1], STRAY_DIR_SUFFIX)
        log.error("partition directory %s set aside as %s: %s", path, target.name, reason)
        return False, None
    target = set_aside(path, tp[0], tp[1])
    log.warning("partition directory %s renamed for deletion: %s", path, reason)
    return False, target


def set_aside_leftover(
    directory: Path, topic: str, partition: int, topic_id: bytes
) -> Path | None:
    """A new log's directory already exists: unless it is this topic's (a log created by an
    earlier attempt), it is a deleted topic's that a crash left behind, and its records must
    not be served under the new topic. Returns the path to remove, if any."""
    stored = read_partition_metadata(directory)
    if stored == topic_id:
        return None
    stray = stored is None and has_records(directory)
    target = set_aside(directory, topic, partition, STRAY_DIR_SUFFIX if stray else
                       DELETE_DIR_SUFFIX)
    log.warning("leftover directory %s set aside as %s", directory, target.name)
    return None if stray else target


def trusted_checkpoint_offsets(
    path: Path,
    tp: TopicPartition,
    recovery_points: Mapping[TopicPartition, int],
    start_offsets: Mapping[TopicPartition, int],
    checkpoint_mtimes: tuple[int | None, int | None],
) -> tuple[int, int, int]:
    """``(recovery point, log start offset, suspect log start offset)`` of ``tp`` to open it
    with. A checkpoint file older than this directory's ``partition.metadata`` may hold an
    entry of an earlier topic of the same name: its recovery point is dropped (that only
    costs a longer recovery), and its log start offset is returned as *suspect* (0 if none):
    the caller opens the log from 0 and then applies it only if it lies within the log. A
    stale log start above this log's end would make recovery delete every one of its
    segments; but a file's time is not proof of staleness (a directory copied with
    ``cp -r``, or a clock stepped back, makes the checkpoints look older), and dropping a true
    log start would serve records DeleteRecords removed."""
    created = mtime_ns(path / PARTITION_METADATA_FILE)
    recovery_mtime, start_mtime = checkpoint_mtimes
    recovery = recovery_points.get(tp, 0)
    start = start_offsets.get(tp, 0)
    suspect = 0
    if created is not None:
        if recovery and recovery_mtime is not None and recovery_mtime < created:
            log.warning("ignoring a recovery point of %s older than its log", path.name)
            recovery = 0
        if start and start_mtime is not None and start_mtime < created:
            start, suspect = 0, start
    return recovery, start, suspect
