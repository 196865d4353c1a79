"""The cluster's controller logic under seeded schedules of deaths, pauses, clean stops,
node-id takeovers and topic creations, in virtual time (:mod:`tests.sim.cluster` says what is
simulated and which invariants are checked). A failing seed prints its violations and the
schedule that ran; ``python -m tests.sim.cluster SEED`` replays it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.sim.cluster import report, simulate
from tests.sim.node import Sim

FAST_SEEDS = range(100)
SLOW_SEEDS = range(100, 3200)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The code under test logs every lapse and election; thousands of them are noise here."""
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


_RAN: dict[int, tuple[list[str], int]] = {}
"""Each checked seed's schedule and snapshot count: a seed's run is deterministic, so the
coverage test reads the seeds already run instead of simulating them again."""


def _check(seed: int) -> Sim:
    sim = simulate(seed)
    assert not sim.violations, report(sim)
    assert len(sim.grants) > 1, f"seed {seed}: the controller never changed\n{report(sim)}"
    _RAN[seed] = (list(sim.schedule), sim.writes.get("snapshot", 0))
    return sim


def _schedule_and_snapshots(seed: int) -> tuple[list[str], int]:
    if seed not in _RAN:
        sim = simulate(seed)
        _RAN[seed] = (list(sim.schedule), sim.writes.get("snapshot", 0))
    return _RAN[seed]


@pytest.mark.parametrize("seed", FAST_SEEDS, ids=lambda s: f"seed{s}")
def test_the_controller_logic_keeps_its_invariants(seed: int) -> None:
    _check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS, ids=lambda s: f"seed{s}")
def test_the_controller_logic_keeps_its_invariants_on_many_more_seeds(seed: int) -> None:
    _check(seed)


def test_the_schedules_reach_every_fault() -> None:
    """The first seeds together exercise each kind of fault and recovery the checks are for."""
    seen: dict[str, int] = {}
    kinds = ("kill -9", "pause", "cleanly", "restart", "taken over", "learns it was replaced",
             "starts from the snapshot", "create", "elected")
    snapshots = 0
    for seed in range(40):
        schedule, seed_snapshots = _schedule_and_snapshots(seed)
        for line in schedule:
            for kind in kinds:
                if kind in line:
                    seen[kind] = seen.get(kind, 0) + 1
        snapshots += seed_snapshots
    assert set(seen) == set(kinds), seen
    assert snapshots > 0
