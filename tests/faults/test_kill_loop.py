"""Acknowledged data and committed offsets survive repeated kill -9 of a loaded broker.

Idempotent acks=all producers write to several partitions while a consumer reads and commits
offsets; the broker is killed with SIGKILL and restarted every cycle. The run's ``History``
must show every acknowledged record exactly once at its acknowledged offset, in order per
producer, no offset holding two records, and committed offsets that never go back. The seed
is printed; set ``BROOK_FAULT_SEED`` to replay a run's decisions. Each incarnation lives
until every producer has been acknowledged by it (``ready_to_kill``), so no producer may go
a whole incarnation (30 s at most) without an acknowledgement.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from brook.testing.kill_loop import KillLoopConfig, run_kill_loop
from brook.testing.process import BrokerProcess

WarpFactory = Callable[..., BrokerProcess]


def _seed() -> int:
    env = os.environ.get("BROOK_FAULT_SEED")
    return int(env) if env else int.from_bytes(os.urandom(4))


def _run(warp_broker: WarpFactory, cycles: int) -> None:
    seed = _seed()
    print(f"kill loop: {cycles} cycles, seed {seed} (replay with BROOK_FAULT_SEED={seed})")
    broker = warp_broker()
    history = run_kill_loop(broker, seed, KillLoopConfig(cycles=cycles))
    print(f"kill loop seed {seed}: {history.summary()}")
    problems = history.violations()
    assert not problems, f"seed {seed}: {len(problems)} violations:\n" + "\n".join(problems[:40])
    assert history.acked, "nothing was acknowledged"
    assert history.commits_acked, "no commit was acknowledged"
    assert history.stalled_cycles == 0, f"seed {seed}: a producer got no acknowledgement " \
        "from a whole broker incarnation"


@pytest.mark.timeout(300)
def test_kill9_loop_10_cycles(warp_broker: WarpFactory) -> None:
    _run(warp_broker, 10)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_kill9_loop_100_cycles(warp_broker: WarpFactory) -> None:
    _run(warp_broker, 100)
