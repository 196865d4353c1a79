"""How long a segment roll holds the event loop: time every ``Log.append_as_leader`` on the
calling thread (the broker's event loop runs appends), separating the appends that rolled.

A worker thread flushes after each roll, as the broker's flush does, so that work competing
with the loop (fsyncs, the journal, the GIL) is part of the figure. The broker-level view of
the same thing is the ``roll_latency`` scenario; this one isolates storage from the client and
the network, which on a loaded machine drown a few milliseconds per roll.

    python -m bench.roll_stall [--producers N] [--appends N] [--segment-bytes B]

Prints one JSON line: p50/p99 of ordinary appends and p50/p99/max of rolling appends (ms).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from brook.records.record import build_batch
from brook.storage.log import Log
from brook.storage.log_config import LogConfig


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))], 3)


def measure(producers: int, appends: int, segment_bytes: int, value_size: int) -> dict[str, object]:
    directory = Path(tempfile.mkdtemp(prefix="bench-roll-stall-"))
    try:
        config = LogConfig.from_props({"segment.bytes": str(segment_bytes)})
        log = Log.open(directory / "t-0", config, recovery_point=0, log_start_offset=0,
                       clean_shutdown=True, now_ms=0)
        stop = threading.Event()

        def flush_after_rolls() -> None:
            while not stop.is_set():
                pending = log.pending_flush_offset
                if pending is not None:
                    log.flush(pending, 0)
                stop.wait(0.002)

        flusher = threading.Thread(target=flush_after_rolls)
        flusher.start()
        value = b"x" * value_size
        sequences = [0] * producers
        normal: list[float] = []
        rolls: list[float] = []
        try:
            for i in range(appends):
                pid = i % producers
                batch = build_batch([(None, value, [], 1_000)], producer_id=pid,
                                    producer_epoch=0, base_sequence=sequences[pid])
                sequences[pid] += 1
                before = log.num_segments
                t0 = time.perf_counter()
                log.append_as_leader(memoryview(batch), 0, 1_000)
                took = (time.perf_counter() - t0) * 1e3
                (rolls if log.num_segments != before else normal).append(took)
                time.sleep(0.0002)  # a steady rate rather than a tight loop
        finally:
            stop.set()
            flusher.join()
            log.close()
        return {"producers": producers, "appends": len(normal), "rolls": len(rolls),
                "append_p50_ms": _pct(normal, 0.5), "append_p99_ms": _pct(normal, 0.99),
                "roll_p50_ms": _pct(rolls, 0.5), "roll_p99_ms": _pct(rolls, 0.99),
                "roll_max_ms": round(max(rolls), 3) if rolls else None}
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--producers", type=int, default=1)
    ap.add_argument("--appends", type=int, default=6_000)
    ap.add_argument("--segment-bytes", type=int, default=128 * 1024)
    ap.add_argument("--value-size", type=int, default=1024)
    a = ap.parse_args()
    print(json.dumps(measure(a.producers, a.appends, a.segment_bytes, a.value_size)))


if __name__ == "__main__":
    main()
