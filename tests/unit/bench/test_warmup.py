"""The warm-up every broker gets before it is measured: all three kinds of load reach it."""

from __future__ import annotations

from bench.procs import Broker
from bench.run import parse_args, settings_from
from bench.scenarios import SCENARIOS, Settings, warm_up


def test_warm_up_requests_batches_and_reads_back() -> None:
    b = Broker("brook", overrides=Settings().brook_overrides())
    try:
        b.start()
        out = warm_up(b, Settings(warmup=3.0))
    finally:
        b.close()
    assert out["requests"] > 0 and out["produced"] > 0
    assert out["consumed"] == out["requests"] + out["produced"]


def test_warm_up_everywhere_but_where_the_cold_start_is_measured() -> None:
    assert not SCENARIOS["startup"].warm
    assert all(s.warm for name, s in SCENARIOS.items() if name != "startup")
    assert settings_from(parse_args([])).warmup == 10.0
    assert settings_from(parse_args(["--warmup", "0"])).warmup == 0.0


def test_kafka_runs_every_scenario_tansu_runs() -> None:
    for s in SCENARIOS.values():
        if "peer" in s.brokers:
            assert "kafka" in s.brokers, s.name
