"""In-process cost of the leader's append per batch: validation, offset assignment, write.

``python -m bench.validation [--out FILE]`` prints one JSON line per (value size, codec,
batch size): append latency p50/p99 in µs (wall clock), the median CPU time of one append
(``Log.append_as_leader`` on a fresh copy of the same producer batch each time, its write to
the page cache included) and of its validation step alone, and the records per second one
core sustains by CPU time (robust to other load on the machine). It runs
whatever ``brook`` is importable, so ``PYTHONPATH=<other tree>/src`` measures another build
(an earlier commit exported with ``git archive``) for before/after figures. Unlike the
client-driven scenarios in ``run.py`` it isolates the broker's own work per request.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from brook.records.record import build_batch
from brook.storage import log_validator
from brook.storage.log import Log
from brook.storage.log_config import LogConfig

CODECS = {"none": 0, "lz4": 3, "zstd": 4}
NOW = 1_700_000_000_000


def _batch(value_size: int, batch_bytes: int, codec: int) -> bytearray:
    count = max(1, batch_bytes // (value_size + 12))
    half = value_size // 2
    records = [(b"key-%d" % i, os.urandom(half) + bytes(value_size - half), (), NOW + i)
               for i in range(count)]
    return build_batch(records, compression=codec)


def _validate(records: memoryview, config: LogConfig) -> None:
    """The validation step alone (``analyze_and_validate_records``), in either build's API."""
    try:
        log_validator.analyze_and_validate_records(records, config)  # type: ignore[call-arg]
    except TypeError:  # the API before record validation
        log_validator.analyze_and_validate_records(  # type: ignore[call-arg]
            records, max_message_bytes=config.max_message_bytes, origin_client=True,
            compacted=config.compact,
        )


def measure(value_size: int, codec_name: str, batch_bytes: int, seconds: float) -> dict[str, object]:
    batch = _batch(value_size, batch_bytes, CODECS[codec_name])
    count = max(1, batch_bytes // (value_size + 12))
    config = LogConfig.from_props({"max.message.bytes": str(4 << 20),
                                   "segment.bytes": str(1 << 30)})
    with tempfile.TemporaryDirectory() as d:
        log = Log.open(Path(d), config, recovery_point=0, log_start_offset=0,
                       clean_shutdown=True, now_ms=NOW)
        times: list[float] = []
        cpu: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline and len(times) < 20_000:
            data = memoryview(bytearray(batch))
            t0 = time.perf_counter()
            c0 = time.thread_time()
            log.append_as_leader(data, 0, NOW)
            cpu.append(time.thread_time() - c0)
            times.append(time.perf_counter() - t0)
            if log.log_end_offset > 50_000_000 or log.size_bytes > 512 << 20:
                break
        log.close()
    check: list[float] = []
    view = memoryview(bytearray(batch))
    for _ in range(max(5, min(len(times), 2_000))):
        c0 = time.thread_time()
        _validate(view, config)
        check.append(time.thread_time() - c0)
    total = sum(cpu)
    qs = statistics.quantiles(times, n=100)
    return {"bench": "append", "value_size": value_size, "codec": codec_name,
            "batch_bytes": len(batch), "records": count, "appends": len(times),
            "p50_us": round(qs[49] * 1e6, 1), "p99_us": round(qs[98] * 1e6, 1),
            "cpu_us_median": round(statistics.median(cpu) * 1e6, 1),
            "validate_cpu_us_median": round(statistics.median(check) * 1e6, 1),
            "records_s": round(count * len(times) / total),
            "value_mb_s": round(count * value_size * len(times) / total / 1e6, 1),
            "brook": str(Path(sys.modules["brook"].__file__ or "").parent)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out")
    a = ap.parse_args()
    out = open(a.out, "a") if a.out else None
    for value_size in (100, 1024):
        for codec in CODECS:
            for batch_bytes in (16 * 1024, 1 << 20):
                line = json.dumps(measure(value_size, codec, batch_bytes, a.seconds))
                print(line, flush=True)
                if out:
                    out.write(line + "\n")
    if out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
