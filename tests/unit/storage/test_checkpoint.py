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
def test_malformed_offset_checkpoint_is_skipped_not_fatal(tmp_path: Path, text: str) -> None:
    """An offset checkpoint that does not parse must not stop the broker: whatever parses is
    kept, the rest ignored (those logs recover from their start)."""
    path = tmp_path / "replication-offset-checkpoint"
    path.write_text(text)
    entries = OffsetCheckpointFile(path).read()
    assert set(entries) <= {("topic", 0)}


def test_malformed_offset_line_keeps_the_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "recovery-point-offset-checkpoint"
    path.write_text("0\n3\ngood 0 7\nbad\n-0 5\nother 1 9\n")
    assert OffsetCheckpointFile(path).read() == {("good", 0): 7, ("other", 1): 9}


@pytest.mark.parametrize("name", ["trailing\n", "in side", "tab\tbed", "cr\r", "nl\u2028x", ""])
def test_offset_checkpoint_never_writes_an_unreadable_line(tmp_path: Path, name: str) -> None:
    """A topic name that cannot be one field (it reached the metadata under a looser name
    check) is left out, and the file stays readable with every other entry."""
    path = tmp_path / "recovery-point-offset-checkpoint"
    checkpoint = OffsetCheckpointFile(path)
    checkpoint.write({(name, 0): 4, ("ok", 0): 3, ("ok", 1): 8})
    assert checkpoint.read() == {("ok", 0): 3, ("ok", 1): 8}
    assert path.read_text() == "0\n2\nok 0 3\nok 1 8\n"


def test_corrupt_checkpoint_is_a_log_dir_error(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(LogDirError):
        LeaderEpochCheckpointFile(path).read()
    assert OffsetCheckpointFile(path).read() == {}


def test_leader_epoch_checkpoint(tmp_path: Path) -> None:
    checkpoint = LeaderEpochCheckpointFile.in_dir(tmp_path)
    checkpoint.write([EpochEntry(0, 0), EpochEntry(3, 120)])
    assert checkpoint.path.name == "leader-epoch-checkpoint"
    assert checkpoint.path.read_text() == "0\n2\n0 0\n3 120\n"
    assert checkpoint.read() == [EpochEntry(0, 0), EpochEntry(3, 120)]
    checkpoint.path.write_text("0\n1\n3\n")
    with pytest.raises(CorruptCheckpointError):
        checkpoint.read()


@pytest.mark.parametrize("value", ["1_0", "\u0663", "+5", "-5", str(2**63)])
def test_offset_outside_javas_long_syntax_or_range_is_skipped(tmp_path: Path, value: str) -> None:
    """An edited file with a value that is not a plain decimal within Java's long range
    must not reach a log: its line is skipped, the others are kept."""
    path = tmp_path / "recovery-point-offset-checkpoint"
    path.write_text(f"0\n3\nt 0 {value}\nt {value} 1\nu 0 7\n")
    assert OffsetCheckpointFile(path).read() == {("u", 0): 7}
