"""The results table: brook's ratio to each peer, tansu and Kafka side by side."""

from __future__ import annotations

from typing import Any

from bench import report


def _rec(broker: str, mb_s: float, cpu: float, repeat: int = 0) -> dict[str, Any]:
    return {"broker": broker, "scenario": "produce", "repeat": repeat,
            "params": {"value_size": 1024}, "mb_s": mb_s, "broker_cpu_ms_per_mb": cpu}


def _row(table: str, metric: str) -> list[str]:
    line = next(ln for ln in table.splitlines() if f"| {metric} |" in ln)
    return [c.strip() for c in line.strip("|").split("|")]


def test_ratios_against_tansu_and_kafka() -> None:
    recs = [_rec("brook", 500, 1.0), _rec("peer", 250, 4.0), _rec("kafka", 1000, 0.5),
            _rec("brook", 600, 1.2, 1), _rec("kafka", 800, 0.7, 1)]
    t = report.table(recs)
    header = next(ln for ln in t.splitlines() if ln.startswith("| scenario"))
    assert "| tansu | kafka |" in header and "brook/kafka" in header
    # scenario, params, metric, better, brook, tansu, kafka, brook/tansu, brook/kafka, runs
    mb = _row(t, "mb_s")
    assert mb[4:] == ["550.0", "250.0", "900.0", "2.20x", "0.61x", "2/1/2"]
    cpu = _row(t, "broker_cpu_ms_per_mb")  # lower is better: peer / brook
    assert cpu[7:9] == ["3.64x", "0.55x"]
    # every row has as many cells as the header
    rows = [ln for ln in t.splitlines() if ln.startswith("| produce")]
    assert all(ln.count("|") == header.count("|") for ln in rows)


def test_runs_without_kafka_keep_the_old_columns() -> None:
    t = report.table([_rec("brook", 500, 1.0), _rec("peer", 250, 4.0)])
    assert "kafka" not in t
    assert _row(t, "mb_s")[4:] == ["500.0", "250.0", "2.00x", "1/1"]


def test_unavailable_kafka_and_errors_are_listed() -> None:
    recs = [{"type": "broker", "broker": "kafka", "available": False,
             "error": "build/java/classpath.txt is missing: run `make java` first"},
            _rec("brook", 500, 1.0), _rec("peer", 250, 4.0),
            {"broker": "brook", "scenario": "produce", "params": {"value_size": 1024},
             "repeat": 1, "error": "RuntimeError: boom"}]
    t = report.table(recs)
    assert "- kafka unavailable: build/java/classpath.txt is missing" in t
    assert "- brook produce [value_size=1024] repeat 1: RuntimeError: boom" in t


def test_floor_rows_compare_with_each_peer() -> None:
    recs = [{"broker": b, "scenario": "request_rate", "params": {}, "repeat": 0, "req_s": v}
            for b, v in (("brook", 6000), ("floor", 9000), ("peer", 4500), ("kafka", 3000))]
    t = report.table(recs)
    floor = t.split("Floor (")[1]
    row = _row(floor, "req_s")
    assert row[3:] == ["6,000", "9,000", "4,500", "3,000", "2.00x", "3.00x", "1"]
