"""When the kill -9 loop may kill its broker: only once every producer is back in play.

librdkafka re-bootstraps when all its brokers are down and then asks for Metadata only on its
next partition-leader query tick (about a second later), so a loop that killed the broker as
soon as any producer was acknowledged starved the other one for minutes.
"""

from __future__ import annotations

from brook.testing.kill_loop import ready_to_kill


def test_never_before_the_incarnation_has_run_its_time() -> None:
    assert not ready_to_kill(0.2, 0.5, [10, 10], stall_s=30)


def test_waits_for_every_producer_not_just_one() -> None:
    assert not ready_to_kill(5.0, 0.5, [400, 0], stall_s=30)
    assert not ready_to_kill(5.0, 0.5, [0, 400], stall_s=30)
    assert ready_to_kill(5.0, 0.5, [400, 1], stall_s=30)


def test_gives_up_waiting_after_the_stall_limit() -> None:
    assert not ready_to_kill(29.9, 0.5, [0, 0], stall_s=30)
    assert ready_to_kill(30.0, 0.5, [0, 3], stall_s=30)
