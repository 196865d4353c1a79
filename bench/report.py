"""Medians over repeats and the table (markdown) of brook's ratio to each peer broker."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from typing import Any

HIGHER, LOWER, INFO = "higher", "lower", "info"

# The metrics shown in the table, per scenario, with the direction that is better.
# Everything else a scenario returns is kept in the JSON lines only.
HEADLINE: dict[str, list[tuple[str, str]]] = {
    "produce": [("mb_s", HIGHER), ("msgs_s", HIGHER), ("broker_cpu_ms_per_mb", LOWER),
                ("broker_cpu_pct", INFO), ("client_cpu_pct", INFO),
                ("broker_rss_peak_mib", LOWER)],
    "produce_codec": [("mb_s", HIGHER), ("msgs_s", HIGHER), ("broker_cpu_ms_per_mb", LOWER),
                      ("client_cpu_pct", INFO)],
    "consume": [("mb_s", HIGHER), ("msgs_s", HIGHER), ("broker_cpu_ms_per_mb", LOWER),
                ("broker_cpu_pct", INFO), ("broker_rss_peak_mib", LOWER)],
    "request_rate": [("req_s", HIGHER), ("broker_cpu_us_per_req", LOWER),
                     ("rtt_p50_ms", LOWER), ("rtt_p99_ms", LOWER), ("broker_cpu_pct", INFO)],
    "latency": [("p50_ms", LOWER), ("p99_ms", LOWER), ("max_ms", LOWER),
                ("broker_cpu_pct", LOWER), ("broker_rss_peak_mib", LOWER)],
    "partitions": [("mb_s", HIGHER), ("broker_cpu_ms_per_mb", LOWER),
                   ("broker_cpu_pct", INFO), ("broker_rss_peak_mib", LOWER)],
    "group_join": [("join_to_first_ms", LOWER), ("join_to_assigned_ms", LOWER),
                   ("group_initial_rebalance_delay_ms", INFO)],
    "startup": [("restart_to_metadata_s", LOWER), ("shutdown_s", LOWER), ("create_s", LOWER),
                ("idle_rss_mib", LOWER), ("idle_cpu_pct", LOWER)],
}

# The peers brook is compared with: broker kind in the JSON lines, column name in the table.
PEERS: tuple[tuple[str, str], ...] = (("peer", "tansu"), ("kafka", "kafka"))

RATIO_NOTE = ("ratio = brook's advantage over that peer: **> 1 means brook is better**. "
              "For higher-is-better metrics (MB/s, msgs/s, req/s) it is brook / peer; for "
              "lower-is-better metrics (latency, time, CPU per unit, RSS) it is peer / brook. "
              "`info` rows carry no ratio (e.g. CPU % at different throughputs).")


FLOOR_NOTE = ("the floor is the best any broker on a Python event loop reaches on this machine "
              "with this client; brook's distance to it is brook's own request work.")


def params_key(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ratio(brook: float | None, peer: float | None, direction: str) -> str:
    if direction == INFO or brook is None or peer is None:
        return "—"
    num, den = (brook, peer) if direction == HIGHER else (peer, brook)
    if den == 0:
        return "—" if num == 0 else "∞"
    return f"{num / den:.2f}x"


def table(records: Iterable[dict[str, Any]]) -> str:
    """Markdown table of medians (successful repeats only) and ratios, then errors."""
    records = list(records)
    cells: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    runs: dict[tuple[str, str, str], int] = {}
    order: list[tuple[str, str]] = []
    errors: list[str] = []
    unavailable: list[str] = []
    for r in records:
        if r.get("type") == "broker" and r.get("available") is False:
            unavailable.append(f"- {r['broker']} unavailable: {r.get('error', '')[:300]}")
        if "scenario" not in r or "broker" not in r:
            continue
        scen, pk, broker = r["scenario"], params_key(r.get("params", {})), r["broker"]
        if (scen, pk) not in order:
            order.append((scen, pk))
        if "error" in r:
            errors.append(f"- {broker} {scen} [{pk}] repeat {r.get('repeat')}: "
                          f"{str(r['error'])[:300]}")
            continue
        runs[(scen, pk, broker)] = runs.get((scen, pk, broker), 0) + 1
        for metric, _ in HEADLINE.get(scen, []):
            v = r.get(metric)
            if isinstance(v, int | float) and not isinstance(v, bool):
                cells.setdefault((scen, pk, metric), {}).setdefault(broker, []).append(v)

    # Old runs have no Kafka lines: show only the peers that were measured (tansu always).
    seen = {r.get("broker") for r in records if "scenario" in r}
    peers = [(kind, name) for kind, name in PEERS if kind == "peer" or kind in seen]
    names = [name for _, name in peers]
    lines = [f"Medians over repeats; {RATIO_NOTE}", "",
             "| scenario | params | metric | better | brook | "
             + " | ".join(names) + " | "
             + " | ".join(f"brook/{n} (>1: brook better)" for n in names)
             + f" | runs brook/{'/'.join(names)} |",
             "|---|---|---|---|---:|" + "---:|" * (2 * len(peers) + 1)]
    for scen, pk in order:
        for metric, direction in HEADLINE.get(scen, []):
            got = cells.get((scen, pk, metric), {})
            b = _median(got.get("brook", []))
            ps = [_median(got.get(kind, [])) for kind, _ in peers]
            if b is None and all(p is None for p in ps):
                continue
            n = "/".join(str(runs.get((scen, pk, k), 0)) for k in ("brook", *dict(peers)))
            lines.append(f"| {scen} | {pk} | {metric} | {direction} | {_fmt(b)} | "
                         + " | ".join(_fmt(p) for p in ps) + " | "
                         + " | ".join(_ratio(b, p, direction) for p in ps) + f" | {n} |")
    floor_rows = []
    for scen, pk in order:
        for metric, direction in HEADLINE.get(scen, []):
            got = cells.get((scen, pk, metric), {})
            f = _median(got.get("floor", []))
            if f is None or direction == INFO:
                continue
            b = _median(got.get("brook", []))
            ps = [_median(got.get(kind, [])) for kind, _ in peers]
            floor_rows.append(f"| {scen} | {pk} | {metric} | {_fmt(b)} | {_fmt(f)} | "
                              + " | ".join(_fmt(p) for p in ps) + " | "
                              + " | ".join(_ratio(f, p, direction) for p in ps)
                              + f" | {runs.get((scen, pk, 'floor'), 0)} |")
    if floor_rows:
        lines += ["", f"Floor (bench/floor.py: a Python broker that does no request work); {FLOOR_NOTE}",
                  "", "| scenario | params | metric | brook | floor | " + " | ".join(names)
                  + " | " + " | ".join(f"floor/{n} (>1: floor better)" for n in names)
                  + " | runs floor |",
                  "|---|---|---|---:|---:|" + "---:|" * (2 * len(peers) + 1), *floor_rows]
    if unavailable or errors:
        lines += ["", "Not measured:", *unavailable, *errors]
    return "\n".join(lines)


def load_jsonl(path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    return out
