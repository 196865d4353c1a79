"""bench.replicated's summaries: the RF=3 / RF=1 ratio pairs measurements of the same repeat,
and the latency target is judged on the RF=3 median p99."""

from __future__ import annotations

from bench.replicated import latency_summary, produce_summary


def test_the_ratio_pairs_each_repeat_and_reports_the_median() -> None:
    records = [
        {"rf": 3, "repeat": 0, "msgs_s": 300.0, "mb_s": 0.3},
        {"rf": 1, "repeat": 0, "msgs_s": 600.0, "mb_s": 0.6},
        {"rf": 1, "repeat": 1, "msgs_s": 1000.0, "mb_s": 1.0},
        {"rf": 3, "repeat": 1, "msgs_s": 800.0, "mb_s": 0.8},
        {"rf": 3, "repeat": 2, "msgs_s": 700.0, "mb_s": 0.7},  # its RF=1 partner failed
    ]
    out = produce_summary(records)
    assert out["ratio_rf3_to_rf1_by_repeat"] == [0.5, 0.8]
    assert out["ratio_rf3_to_rf1"] == 0.65
    assert out["rf3_msgs_s"] == 700.0 and out["rf1_msgs_s"] == 800.0


def test_no_pair_no_ratio() -> None:
    out = produce_summary([{"rf": 3, "repeat": 0, "msgs_s": 300.0}])
    assert out["ratio_rf3_to_rf1"] is None and out["rf1_msgs_s"] is None


def test_the_latency_target_is_the_rf3_median_p99() -> None:
    records = [{"rf": 3, "p50_ms": 4.0, "p99_ms": p99, "max_ms": 30.0} for p99 in (12.0, 25.0, 19.0)]
    records.append({"rf": 1, "p50_ms": 2.0, "p99_ms": 50.0, "max_ms": 60.0})
    out = latency_summary(records)
    assert out["rf3_p99_ms"] == 19.0 and out["rf1_p99_ms"] == 50.0
    assert out["rf3_meets_target"] is True
    assert latency_summary(records[1:2])["rf3_meets_target"] is False
