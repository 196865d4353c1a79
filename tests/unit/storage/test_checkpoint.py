from __future__ import annotations

from pathlib import Path

import pytest

from brook.storage.checkpoint import (
    CorruptCheckpointError,
    EpochEntry,
    LeaderEpochCheckpointFile,
    OffsetCheckpointFile,
    atomic_write,
)
from brook.storage.errors import LogDirError


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "file"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_offset_checkpoint_round_trip_in_kafka_format(tmp_path: Path) -> None:
    checkpoint = OffsetCheckpointFile(tmp_path / "recovery-point-offset-checkpoint")
    offsets = {("orders", 1): 1320, ("orders", 0): 1500, ("__consumer_offsets", 7): 0}
    checkpoint.write(offsets)
    assert checkpoint.read() == offsets
    assert checkpoint.path.read_text() == (
        "0\n3\n__consumer_offsets 7 0\norders 0 1500\norders 1 1320\n"
    )


def test_missing_checkpoint_reads_empty(tmp_path: Path) -> None:
    assert OffsetCheckpointFile(tmp_path / "absent").read() == {}
    assert LeaderEpochCheckpointFile.in_dir(tmp_path).read() == []


def test_empty_checkpoint(tmp_path: Path) -> None:
    checkpoint = OffsetCheckpointFile(tmp_path / "c")
    checkpoint.write({})
    assert checkpoint.path.read_text() == "0\n0\n"
    assert checkpoint.read() == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0\n",
        "1\n0\n",
        "0\nx\n",
        "0\n2\ntopic 0 5\n",
        "0\n1\ntopic 0\n",
        "0\n1\ntopic zero 5\n",
        "0\n1\ntopic 0 5 extra\n",
    ],
)
def test_malformed_offset_checkpoint_raises_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "replication-offset-checkpoint"
    path.write_text(text)
    with pytest.raises(CorruptCheckpointError, match="replication-offset-checkpoint"):
        OffsetCheckpointFile(path).read()


def test_corrupt_checkpoint_is_a_log_dir_error(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(LogDirError):
        OffsetCheckpointFile(path).read()


def test_leader_epoch_checkpoint(tmp_path: Path) -> None:
    checkpoint = LeaderEpochCheckpointFile.in_dir(tmp_path)
    checkpoint.write([EpochEntry(0, 0), EpochEntry(3, 120)])
    assert checkpoint.path.name == "leader-epoch-checkpoint"
    assert checkpoint.path.read_text() == "0\n2\n0 0\n3 120\n"
    assert checkpoint.read() == [EpochEntry(0, 0), EpochEntry(3, 120)]
    checkpoint.path.write_text("0\n1\n3\n")
    with pytest.raises(CorruptCheckpointError):
        checkpoint.read()
