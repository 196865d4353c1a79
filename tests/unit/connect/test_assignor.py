"""The round-robin assignment every worker computes for itself."""

from __future__ import annotations

from brook.connect.runtime.assignor import assign, owners


def test_one_connector_six_tasks_two_workers() -> None:
    a = assign(["w2:1", "w1:1"], {"s3": 6})
    assert a["w1:1"].connectors == ["s3"] and a["w2:1"].connectors == []
    assert a["w1:1"].tasks == [("s3", 1), ("s3", 3), ("s3", 5)]
    assert a["w2:1"].tasks == [("s3", 0), ("s3", 2), ("s3", 4)]


def test_even_spread_and_deterministic() -> None:
    counts = {"b": 4, "a": 3, "c": 0}
    a = assign(["x", "y", "z", "y"], counts)
    assert a == assign(["z", "y", "x"], counts)
    units = [len(w.connectors) + len(w.tasks) for w in a.values()]
    assert sorted(units) == [3, 3, 4] and sum(units) == 3 + 7
    assert a["x"].connectors == ["a"] and a["y"].connectors == ["b"] and a["z"].connectors == ["c"]
    inverse = owners(a)
    assert {k for k in inverse if isinstance(k, tuple)} == (
        {("a", i) for i in range(3)} | {("b", i) for i in range(4)})


def test_dead_worker_share_moves_to_survivors() -> None:
    before = owners(assign(["w1", "w2", "w3"], {"s": 6}))
    after = owners(assign(["w1", "w3"], {"s": 6}))
    assert set(after.values()) == {"w1", "w3"}
    assert set(after) == set(before)  # every connector and task still has exactly one owner


def test_no_workers_no_units() -> None:
    assert assign([], {"s": 3}) == {}
    alone = assign(["only"], {"s": 2, "t": 1})
    assert alone["only"].connectors == ["s", "t"]
    assert alone["only"].tasks == [("s", 0), ("s", 1), ("t", 0)]
