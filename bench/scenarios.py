"""The benchmark scenarios. Each takes a freshly started broker, its parameters and the run
settings, and returns a flat dict of metrics. The runner starts and tears down the broker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import admin, child, kafka, load
from bench.procs import Broker, RssPeak

Params = dict[str, Any]
Result = dict[str, Any]
KIB = 1024
MIB = 1024 * 1024


@dataclass
class Settings:
    duration: float = 10.0  # seconds of load per measurement
    max_mb: int = 2048  # cap on bytes produced per measurement (the peer keeps data in RAM)
    latency_rate: int = 1000  # msg/s for the end-to-end latency scenario
    rebalance_delay_ms: int = 3000  # group.initial.rebalance.delay.ms of brook and Kafka
    startup_partitions: int = 10_000
    partitions_per_topic: int = 10
    warmup: float = 10.0  # seconds of unmeasured load on every fresh broker (bench.load.warmup)

    def worker_timeout(self) -> float:
        return self.duration + 180.0

    def brook_overrides(self) -> dict[str, str]:
        return {"group.initial.rebalance.delay.ms": str(self.rebalance_delay_ms)}

    def overrides(self, kind: str) -> dict[str, str]:
        """server.properties beyond the broker's defaults (tansu and the floor take none)."""
        if kind == "brook":
            return self.brook_overrides()
        if kind == "kafka":
            return kafka.one_node_overrides(self.rebalance_delay_ms)
        return {}


@dataclass(frozen=True)
class Scenario:
    name: str
    grid: Callable[[Settings], list[Params]]
    run: Callable[[Broker, Params, Settings], Result]
    brokers: tuple[str, ...] = ("brook", "peer", "kafka")
    about: str = ""
    warm: bool = True  # run bench.load.warmup first (not where the cold start is the subject)


def warm_up(b: Broker, s: Settings) -> dict[str, Any]:
    """The same unmeasured load on every broker before its measurement, on its own topic."""
    admin.create_topics(b.bootstrap, {"bench-warmup": 1})
    return child.run(load.warmup, {"bootstrap": b.bootstrap, "topic": "bench-warmup",
                                   "duration": s.warmup}, s.warmup + 90)


def topic_config(value_size: int) -> dict[str, str]:
    return {"max.message.bytes": str(8 * value_size)} if value_size >= MIB else {}


def _produce_args(b: Broker, topic: str, p: Params, s: Settings, **kw: Any) -> dict[str, Any]:
    args = {"bootstrap": b.bootstrap, "broker_pid": b.pid, "topic": topic,
            "value_size": p["value_size"], "acks": p.get("acks", "1"),
            "duration": s.duration, "max_bytes": s.max_mb * 1_000_000}
    args.update(kw)
    return args


# ----------------------------------------------------------------------------------- produce

def produce_grid(s: Settings) -> list[Params]:
    return [{"value_size": v, "acks": a, "partitions": 1}
            for v in (100, KIB, MIB) for a in ("1", "all")]


def produce_throughput(b: Broker, p: Params, s: Settings) -> Result:
    admin.create_topics(b.bootstrap, {"bench-produce": p["partitions"]},
                        topic_config(p["value_size"]))
    with RssPeak(b.pid) as rss:
        out = child.run(load.produce, _produce_args(b, "bench-produce", p, s),
                        s.worker_timeout())
    out["broker_rss_peak_mib"] = rss.peak_mib
    return out


def produce_codec_grid(s: Settings) -> list[Params]:
    return [{"value_size": v, "compression": c, "acks": "1", "partitions": 1}
            for v in (100, KIB) for c in ("none", "lz4", "zstd")]


def produce_codec_throughput(b: Broker, p: Params, s: Settings) -> Result:
    """Produce throughput and broker CPU per MB by codec: what the leader's record validation
    (a walk of every record, after decompression for compressed batches) costs. Values are
    half random, half zeros, so compressed batches are smaller than the records, as in use."""
    admin.create_topics(b.bootstrap, {"bench-codec": p["partitions"]}, {})
    with RssPeak(b.pid) as rss:
        out = child.run(load.produce, _produce_args(
            b, "bench-codec", p, s, conf={"compression.type": p["compression"]},
            half_zero=True), s.worker_timeout())
    out["broker_rss_peak_mib"] = rss.peak_mib
    return out


# ----------------------------------------------------------------------------------- consume

def consume_grid(s: Settings) -> list[Params]:
    return [{"value_size": v, "partitions": 1} for v in (KIB, MIB)]


def consume_throughput(b: Broker, p: Params, s: Settings) -> Result:
    topic = "bench-consume"
    admin.create_topics(b.bootstrap, {topic: p["partitions"]}, topic_config(p["value_size"]))
    fill = child.run(load.produce, _produce_args(b, topic, p, s), s.worker_timeout())
    expected = int(fill["messages"])  # acknowledged by the broker
    if expected <= 0:
        raise RuntimeError(f"pre-fill produced nothing ({fill})")
    args = {"bootstrap": b.bootstrap, "broker_pid": b.pid, "topic": topic,
            "partitions": p["partitions"], "value_size": p["value_size"],
            "expected": expected, "timeout": s.worker_timeout() - 30}
    with RssPeak(b.pid) as rss:
        out = child.run(load.consume, args, s.worker_timeout())
    out["fill_mb_s"] = fill.get("mb_s")
    out["high_watermark_sum"] = admin.end_offsets(b.bootstrap, topic, p["partitions"])
    out["broker_rss_peak_mib"] = rss.peak_mib
    if not out.get("complete"):
        out["error"] = f"read {out['messages']} of {expected} messages"
    return out


# ------------------------------------------------------------------------------ request rate

def request_grid(s: Settings) -> list[Params]:
    return [{"value_size": 100, "acks": "1", "linger_ms": 0, "max_in_flight": 1}]


def request_rate(b: Broker, p: Params, s: Settings) -> Result:
    admin.create_topics(b.bootstrap, {"bench-requests": 1})
    args = _produce_args(b, "bench-requests", p, s)
    with RssPeak(b.pid) as rss:
        out = child.run(load.request_rate, args, s.worker_timeout())
    out["broker_rss_peak_mib"] = rss.peak_mib
    return out


# ------------------------------------------------------------------------ end-to-end latency

def latency_grid(s: Settings) -> list[Params]:
    return [{"rate": s.latency_rate, "value_size": 100, "acks": "all"}]


def e2e_latency(b: Broker, p: Params, s: Settings) -> Result:
    topic = "bench-latency"
    admin.create_topics(b.bootstrap, {topic: 1})
    count = max(1, int(p["rate"] * s.duration))
    base = {"bootstrap": b.bootstrap, "broker_pid": b.pid, "topic": topic,
            "value_size": p["value_size"]}
    timeout = s.worker_timeout()
    with RssPeak(b.pid) as rss, child.Child(
            load.latency_consumer, {**base, "expected": count, "timeout": timeout - 30}) as cons:
        cons.wait_for("ready", 60)
        prod = child.run(load.latency_producer, {**base, "count": count, "rate": p["rate"]},
                         timeout)
        out = cons.result(timeout)
    out.update({k: prod[k] for k in ("achieved_rate", "late_sends", "undelivered",
                                     "broker_cpu_pct", "client_cpu_pct") if k in prod})
    out["broker_rss_peak_mib"] = rss.peak_mib
    if out["received"] < count:
        out["error"] = f"received {out['received']} of {count} messages"
    return out


# --------------------------------------------------------------------- latency across rolls

def roll_latency_grid(s: Settings) -> list[Params]:
    # 1 MB/s: 128 KiB segments roll about 8 times a second; 1 GiB ones never do here.
    return [{"segment_bytes": seg, "rate": 1000, "value_size": KIB, "acks": "all"}
            for seg in (128 * KIB, 1024 * MIB)]


def roll_latency(b: Broker, p: Params, s: Settings) -> Result:
    """Produce latency (send to acknowledgement) at a steady rate with an idempotent producer,
    with segments small enough to roll several times a second, against segments that never
    roll: whatever a roll does on the broker's event loop (producer snapshot, fsyncs) shows
    as the difference in p99 and max."""
    topic = "bench-roll"
    admin.create_topics(b.bootstrap, {topic: 1}, {"segment.bytes": str(p["segment_bytes"])})
    args = {"bootstrap": b.bootstrap, "broker_pid": b.pid, "topic": topic,
            "value_size": p["value_size"], "rate": p["rate"], "acks": p["acks"],
            "duration": s.duration}
    out = child.run(load.produce_latency, args, s.worker_timeout())
    out["segments"] = len(list((b.data_dir / f"{topic}-0").glob("*.log")))
    return out


# -------------------------------------------------------------------------------- partitions

def partitions_grid(s: Settings) -> list[Params]:
    return [{"partitions": n, "value_size": KIB, "acks": "1"} for n in (1, 10, 100)]


def partitions_scaling(b: Broker, p: Params, s: Settings) -> Result:
    admin.create_topics(b.bootstrap, {"bench-spread": p["partitions"]})
    args = _produce_args(b, "bench-spread", p, s, partitions=p["partitions"])
    with RssPeak(b.pid) as rss:
        out = child.run(load.produce, args, s.worker_timeout())
    out["broker_rss_peak_mib"] = rss.peak_mib
    return out


# -------------------------------------------------------------------------------- group join

def group_grid(s: Settings) -> list[Params]:
    return [{"partitions": 1, "prefill": 100}]


def group_join(b: Broker, p: Params, s: Settings) -> Result:
    topic = "bench-group"
    admin.create_topics(b.bootstrap, {topic: p["partitions"]})
    child.run(load.produce, _produce_args(b, topic, {"value_size": 100}, s,
                                          count=p["prefill"]), 60)
    args = {"bootstrap": b.bootstrap, "topic": topic, "group": f"bench-group-{b.starts}",
            "timeout": 120.0}
    out = child.run(load.group_join, args, 150)
    if b.kind in ("brook", "kafka"):
        out["group_initial_rebalance_delay_ms"] = s.rebalance_delay_ms
    else:
        out["group_initial_rebalance_delay_ms"] = None
        out["note"] = "the peer has no group.initial.rebalance.delay.ms setting"
    return out


def _registry() -> dict[str, Scenario]:
    from bench import startup

    items = [
        Scenario("produce", produce_grid, produce_throughput,
                 about="produce throughput by value size and acks"),
        Scenario("produce_codec", produce_codec_grid, produce_codec_throughput,
                 about="produce throughput by value size and compression codec, acks=1"),
        Scenario("consume", consume_grid, consume_throughput,
                 about="consume from the start of a pre-filled topic"),
        Scenario("request_rate", request_grid, request_rate, brokers=("brook", "peer", "kafka", "floor"),
                 about="one message per request, one request in flight"),
        Scenario("latency", latency_grid, e2e_latency,
                 about="end-to-end latency at a fixed rate, acks=all"),
        Scenario("roll_latency", roll_latency_grid, roll_latency, brokers=("brook",),
                 about="produce latency at a steady rate while segments roll"),
        Scenario("partitions", partitions_grid, partitions_scaling,
                 about="same produce load over 1, 10 and 100 partitions"),
        Scenario("group_join", group_grid, group_join,
                 about="single consumer: subscribe() to first message"),
        Scenario("startup", startup.grid, startup.run, brokers=("brook", "kafka"), warm=False,
                 about="restart time and idle RSS with many partitions"),
    ]
    return {s.name: s for s in items}


SCENARIOS: dict[str, Scenario] = _registry()
