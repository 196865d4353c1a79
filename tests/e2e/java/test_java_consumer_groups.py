"""The Java consumer's classic group protocol against brook: the eager RangeAssignor and the
CooperativeStickyAssignor with two members joining and leaving, static membership, and the
KIP-848 protocol brook does not serve.

Each member is a running ``JGroupMember`` (``tests/java/programs``) reporting its rebalance
callbacks, whole assignment and records as JSON lines stamped with the wall clock, so the
test can check that no partition is ever owned by two members at once, that every record is
consumed exactly once across members, and that committed offsets survive a hand-over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.support.brokers import BrokerProcess, plain_broker
from tests.support.ck import Rec, create_topic, produce, unique_topic
from tests.support.java_programs import JavaProgram

pytestmark = pytest.mark.timeout(240)

FAST_GROUPS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}
RANGE = "partition.assignment.strategy=org.apache.kafka.clients.consumer.RangeAssignor"
COOPERATIVE = ("partition.assignment.strategy="
               "org.apache.kafka.clients.consumer.CooperativeStickyAssignor")
PARTITIONS = 4
PER_ROUND = 10
"""Records per partition per round of produce."""


@pytest.fixture(name="gbroker", scope="module")
def fixture_gbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    d = tmp_path_factory.mktemp("java-groups") / "data"
    b = plain_broker(d, overrides=dict(FAST_GROUPS))
    b.start()
    yield b
    assert b.stop() == 0, b.output()[-3000:]


def _member(bootstrap: str, group: str, topic: str, *props: str) -> JavaProgram:
    return JavaProgram("JGroupMember", bootstrap, group, topic, "session.timeout.ms=10000",
                       "heartbeat.interval.ms=500", *props)


def _owned(m: JavaProgram) -> list[int]:
    """The member's latest whole assignment, as partition numbers."""
    for line in reversed(m.lines):
        if line["event"] == "assignment":
            return sorted(int(tp.rsplit("-", 1)[1]) for tp in line["partitions"])
    return []


def _records(m: JavaProgram) -> list[tuple[int, int]]:
    return [(line["partition"], line["offset"]) for line in m.lines if line["event"] == "record"]


def _until(cond: Callable[[], bool], what: str, members: list[JavaProgram],
           timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached within {timeout}s: {what}\n"
                         + "\n".join(m.output() for m in members))


def _produce_round(bootstrap: str, topic: str, round_: int, partitions: int = PARTITIONS) -> None:
    produce(bootstrap, topic, [Rec(b"r%d-%d" % (round_, i), partition=p)
                               for p in range(partitions) for i in range(PER_ROUND)])


def _all_offsets(upto_round: int) -> list[tuple[int, int]]:
    return sorted((p, o) for p in range(PARTITIONS) for o in range(PER_ROUND * upto_round))


def _commit(m: JavaProgram) -> None:
    seen = sum(1 for line in m.lines if line["event"] == "committed")
    m.send("commit")
    _until(lambda: sum(1 for line in m.lines if line["event"] == "committed") > seen,
           "a commit", [m])


def _ownership(members: dict[str, JavaProgram]) -> list[tuple[int, str, str, list[int]]]:
    """Every member's callbacks in wall-clock order: (ms, member, event, partitions)."""
    events = []
    for name, m in members.items():
        for line in m.lines:
            if line["event"] in ("assigned", "revoked", "lost"):
                parts = sorted(int(tp.rsplit("-", 1)[1]) for tp in line["partitions"])
                events.append((line["ms"], name, line["event"], parts))
    return sorted(events)


def _never_owned_twice(members: dict[str, JavaProgram]) -> None:
    """Replaying the callbacks in time order, no partition is held by two members at once."""
    held: dict[int, str] = {}
    for ms, name, event, parts in _ownership(members):
        for p in parts:
            if event == "assigned":
                assert held.get(p, name) == name, (
                    f"partition {p} assigned to {name} at {ms} while {held[p]} holds it")
                held[p] = name
            elif held.get(p) == name:
                del held[p]


def _join_leave(gbroker: BrokerProcess, strategy: str) -> list[tuple[str, list[int]]]:
    """A alone, then A and B, then A alone again; three rounds of records consumed once.

    Returns A's rebalance callbacks up to the end of the third round (before it closes)."""
    bootstrap = gbroker.bootstrap
    topic, group = unique_topic("jg-topic"), unique_topic("jg-group")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    _produce_round(bootstrap, topic, 0)
    a = _member(bootstrap, group, topic, strategy)
    b: JavaProgram | None = None
    try:
        _until(lambda: len(_records(a)) == PER_ROUND * PARTITIONS, "A reads round 0", [a])
        _commit(a)
        b = _member(bootstrap, group, topic, strategy)
        both = [a, b]
        _until(lambda: len(_owned(a)) == 2 and len(_owned(b)) == 2, "two partitions each", both)
        assert sorted(_owned(a) + _owned(b)) == list(range(PARTITIONS))
        _produce_round(bootstrap, topic, 1)
        _until(lambda: len(_records(a)) + len(_records(b)) == 2 * PER_ROUND * PARTITIONS,
               "round 1 read", both)
        _commit(a)
        _commit(b)
        assert b.close() == 0, b.output()
        _until(lambda: len(_owned(a)) == PARTITIONS, "A owns all again", [a])
        _produce_round(bootstrap, topic, 2)
        _until(lambda: len(_records(a)) + len(_records(b)) == 3 * PER_ROUND * PARTITIONS,
               "round 2 read", both)
        time.sleep(1)  # a record read twice would show up now
        assert sorted(_records(a) + _records(b)) == _all_offsets(3)
        _commit(a)
        a_events = [(e, p) for _, n, e, p in _ownership({"A": a})]
    finally:
        for m in (a, b):
            if m is not None:
                m.close()
    assert a.close() == 0, a.output()
    assert b is not None
    members = {"A": a, "B": b}
    _never_owned_twice(members)
    assert not [m.lines for m in (a, b) if any(line["event"] == "error" for line in m.lines)]
    return a_events


def test_eager_range_assignor_two_members_join_and_leave(gbroker: BrokerProcess) -> None:
    a_events = _join_leave(gbroker, RANGE)
    # Eager: B's arrival and departure each revoke everything A holds, then reassign.
    assert len(a_events) == 5, a_events
    kept = a_events[2][1]
    assert len(kept) == 2
    assert a_events == [("assigned", [0, 1, 2, 3]), ("revoked", [0, 1, 2, 3]),
                        ("assigned", kept), ("revoked", kept), ("assigned", [0, 1, 2, 3])]


def test_cooperative_sticky_assignor_moves_only_what_it_must(gbroker: BrokerProcess) -> None:
    a_events = _join_leave(gbroker, COOPERATIVE)
    # Cooperative: A gives up exactly two partitions when B comes, nothing when B goes, and
    # gets those two back incrementally.
    revoked = [p for e, p in a_events if e in ("revoked", "lost") and p]
    assert len(revoked) == 1 and len(revoked[0]) == 2, a_events
    assert a_events[0] == ("assigned", [0, 1, 2, 3])
    assert a_events[-1] == ("assigned", revoked[0]), a_events


def test_static_member_restarted_within_the_session_gets_its_partitions_back(
    gbroker: BrokerProcess,
) -> None:
    bootstrap = gbroker.bootstrap
    topic, group = unique_topic("jg-static"), unique_topic("jg-static-g")
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    static = ("session.timeout.ms=30000",)
    a = _member(bootstrap, group, topic, RANGE, "group.instance.id=a", *static)
    b = _member(bootstrap, group, topic, RANGE, "group.instance.id=b", *static)
    a2: JavaProgram | None = None
    try:
        _until(lambda: len(_owned(a)) == 2 and len(_owned(b)) == 2, "two partitions each", [a, b])
        a_before, b_lines_before = _owned(a), len(_ownership({"B": b}))
        a.kill()  # a crash: no LeaveGroup; a static member would not send one anyway
        a2 = _member(bootstrap, group, topic, RANGE, "group.instance.id=a", *static)
        _until(lambda: len(_owned(a2)) == 2, "the restarted member owns partitions", [a2, b])
        assert _owned(a2) == a_before
        time.sleep(2)  # room for a rebalance that must not come
        assert _owned(b) == sorted(set(range(PARTITIONS)) - set(a_before))
        assert len(_ownership({"B": b})) == b_lines_before, (
            "B was rebalanced: " + repr(_ownership({"B": b})))
    finally:
        for m in (a, b, a2):
            if m is not None:
                m.close()


def test_a_member_keeps_consuming_across_a_broker_restart(gbroker: BrokerProcess) -> None:
    """The broker restarts under a subscribed member: it finds the coordinator again, resumes
    from its committed offsets (nothing read twice, nothing skipped) and commits again. (The
    client rebootstraps when its only broker is gone, which makes it rejoin the group.)"""
    bootstrap = gbroker.bootstrap
    topic, group = unique_topic("jg-restart"), unique_topic("jg-restart-g")
    create_topic(bootstrap, topic, partitions=2)
    _produce_round(bootstrap, topic, 0, partitions=2)
    m = _member(bootstrap, group, topic, RANGE)
    try:
        _until(lambda: len(_records(m)) == 2 * PER_ROUND, "round 0 read", [m])
        _commit(m)
        gbroker.restart()
        _produce_round(bootstrap, topic, 1, partitions=2)
        _until(lambda: len(_records(m)) == 4 * PER_ROUND, "round 1 read", [m], timeout=90)
        _commit(m)
        committed = [line for line in m.lines if line["event"] == "committed"][-1]
        assert committed["offsets"] == {f"{topic}-0": 2 * PER_ROUND, f"{topic}-1": 2 * PER_ROUND}
        time.sleep(1)  # a record read twice would show up now
        assert sorted(_records(m)) == sorted(
            (p, o) for p in range(2) for o in range(2 * PER_ROUND))
    finally:
        m.close()
