"""Fault schedules come from the seed alone, so a printed seed replays a run's decisions."""

from __future__ import annotations

import pytest

from brook.testing.fault_schedule import FAULT_KINDS, make_schedule


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    one = make_schedule(42, 100, partitions=6, session_timeout_s=4)
    assert one == make_schedule(42, 100, partitions=6, session_timeout_s=4)
    assert one != make_schedule(43, 100, partitions=6, session_timeout_s=4)
    assert [s.cycle for s in one] == list(range(100))
    assert {s.kind for s in one} == set(FAULT_KINDS)  # 100 draws of 12 kinds cover them all
    assert all(0 <= s.partition < 6 and 0 <= s.pick < 1 for s in one)
    assert "cycle 7: " in one[7].describe()


def test_a_pause_always_outlasts_the_session_and_kinds_can_be_restricted() -> None:
    steps = make_schedule(1, 50, partitions=3, session_timeout_s=4, kinds=["pause", "etcd_cut"])
    assert {s.kind for s in steps} == {"pause", "etcd_cut"}
    assert all(s.hold_s > 4 for s in steps if s.kind == "pause")
    with pytest.raises(ValueError):
        make_schedule(1, 1, partitions=3, session_timeout_s=4, kinds=["unplug"])
