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
from enum import Enum
from pathlib import Path

from brook.storage.checkpoint import fsync_dir
from brook.storage.segment import LOG_FILE_SUFFIX

__all__ = [
    "CLUSTER_METADATA_TOPIC",
    "DELETE_DIR_SUFFIX",
    "MAX_FILE_NAME_LENGTH",
    "STRAY_DIR_SUFFIX",
    "DirKind",
    "classify",
    "has_records",
    "parse_topic_partition",
    "set_aside",
    "set_aside_name",
]

CLUSTER_METADATA_TOPIC = "__cluster_metadata"
DELETE_DIR_SUFFIX = "-delete"
STRAY_DIR_SUFFIX = "-stray"
MAX_FILE_NAME_LENGTH = 255

TopicPartition = tuple[str, int]

log = logging.getLogger(__name__)


class DirKind(Enum):
    PARTITION = "partition"
    METADATA = "metadata"
    DELETED = "deleted"
    STRAY = "stray"
    OTHER = "other"


def parse_topic_partition(dir_name: str) -> TopicPartition:
    """Kafka's rule: the partition is after the LAST '-' (topics may contain '-')."""
    topic, dash, partition = dir_name.rpartition("-")
    if not dash or not topic or not partition.isdigit():
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


def set_aside(directory: Path, topic: str, partition: int, suffix: str = DELETE_DIR_SUFFIX) -> Path:
    """Rename a partition directory out of the way (durably) and return its new path."""
    target = directory.with_name(set_aside_name(topic, partition, suffix))
    os.replace(directory, target)
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
