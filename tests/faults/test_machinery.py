"""The fault machinery itself: clocks, the recording file layer and the history checker must
see what they claim to see, or every test built on them passes vacuously."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from brook.env import fs
from brook.testing.clock import VirtualClock, WarpClock, write_warp
from brook.testing.faultfs import FaultFs
from brook.testing.history import History, record_value
from brook.testing.stall_broker import StallFs, write_stall


def test_warp_clock_follows_its_control_file_and_never_goes_back(tmp_path: Path) -> None:
    control = tmp_path / "warp"
    clock = WarpClock(control)
    real = time.time_ns() // 1_000_000
    assert abs(clock.now_ms() - real) < 1_000
    write_warp(control, 8 * 86_400_000)
    time.sleep(0.05)
    assert clock.now_ms() - real >= 8 * 86_400_000
    mono = clock.monotonic()
    write_warp(control, 1_000)  # a smaller offset is ignored
    time.sleep(0.05)
    assert clock.now_ms() - real >= 8 * 86_400_000
    assert clock.monotonic() >= mono
    assert WarpClock(control).now_ms() - real >= 1_000  # a new process starts from the file


def test_virtual_clock_moves_only_forward_when_told() -> None:
    clock = VirtualClock(5_000)
    assert (clock.now_ms(), clock.now_ms()) == (5_000, 5_000)
    clock.advance(250)
    assert clock.now_ms() == 5_250
    with pytest.raises(ValueError):
        clock.advance(-1)


def _write(path: Path, data: bytes, offset: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        return fs.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fs.fsync(fd)
    finally:
        os.close(fd)


def test_power_loss_keeps_synced_bytes_and_tears_the_rest(tmp_path: Path) -> None:
    seg = tmp_path / "0.log"
    fresh = tmp_path / "1.log"
    with FaultFs() as layer:
        _write(seg, b"a" * 100, 0)
        _sync(seg)
        _sync(tmp_path)  # the directory: both entries are durable from here
        _write(seg, b"b" * 100, 100)
        assert fs.pwrite == layer._pwrite  # installed through the door
        _write(fresh, b"c" * 10, 0)
        _sync(fresh)  # data synced, directory entry not
        layer.fail_syncs = 1
        with pytest.raises(OSError):
            _sync(seg)
        changed = layer.power_loss(tmp_path, torn=0.5)
    assert fs.pwrite.__module__ == "brook.env.fs"  # the real one is back
    assert seg.read_bytes() == b"a" * 100 + b"b" * 50
    assert not fresh.exists()
    assert layer.failed_syncs == 1 and len(changed) == 2


def test_history_reports_each_kind_of_violation() -> None:
    topic = ("t", 0)
    ok = History()
    ok.ack(record_value(0, 0), topic, 0)
    ok.ack(record_value(0, 1), topic, 1)
    ok.commit_acked(topic, 2)
    ok.commit_seen(topic, 2, "restart")
    ok.final_read(topic, [(0, record_value(0, 0)), (1, record_value(0, 1))])
    assert ok.violations() == []

    bad = History()
    bad.ack(record_value(0, 0), topic, 0)
    bad.ack(record_value(0, 1), topic, 1)
    bad.ack(record_value(1, 0), topic, 2)
    bad.observe(topic, 3, record_value(1, 5), "cycle 0")
    bad.commit_acked(topic, 7)
    bad.commit_seen(topic, 5, "restart")  # went back
    bad.final_read(topic, [
        (0, record_value(0, 1)),  # order broken, and 0:0 lost
        (1, record_value(0, 0)),
        (3, record_value(1, 6)),  # offset 3 held another record before
        (4, record_value(0, 1)),  # duplicate
    ])
    problems = "\n".join(bad.violations())
    for expected in ("held", "committed offset 5 < 7", "twice", "after its record",
                     "acknowledged b'1:0'"):
        assert expected in problems, (expected, problems)


def test_stall_fs_delays_writes_and_syncs_while_its_control_file_says_so(tmp_path: Path) -> None:
    control = tmp_path / "stall-ms"
    seg = tmp_path / "0.log"
    with StallFs(control) as layer:
        started = time.monotonic()
        _write(seg, b"a", 0)
        _sync(seg)
        assert time.monotonic() - started < 0.5 and layer.stalled_ops == 0
        write_stall(control, 500)
        time.sleep(0.05)  # re-read at most every 20 ms
        started = time.monotonic()
        _write(seg, b"b", 1)
        _sync(seg)
        assert time.monotonic() - started >= 1.0 and layer.stalled_ops == 2
        write_stall(control, 0)
        time.sleep(0.05)
        started = time.monotonic()
        _write(seg, b"c", 2)
        assert time.monotonic() - started < 0.5 and layer.stalled_ops == 2
    assert fs.pwrite.__module__ == "brook.env.fs"
    assert seg.read_bytes() == b"abc"
