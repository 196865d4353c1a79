"""Load-generator workers (each runs in its own process, see bench.child).

Every worker measures its own window: wall time, the broker's CPU seconds (from /proc, the
broker's whole process tree) and its own CPU seconds (client CPU, to show when the client rather
than the broker is the limit). Sizes: MB = 10**6 bytes.
"""

from __future__ import annotations

import os
import struct
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from bench.child import Emit
from bench.procs import cpu_seconds

MB = 1_000_000


def client_conf(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """The one client configuration every scenario starts from, for both brokers."""
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "client.id": "bench"}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return conf


def size_conf(value_size: int) -> dict[str, Any]:
    """Client limits needed for large values (applied identically to both brokers)."""
    if value_size < 900_000:
        return {}
    limit = 4 * value_size
    return {"message.max.bytes": limit}


def fetch_conf(value_size: int) -> dict[str, Any]:
    if value_size < 900_000:
        return {}
    return {"fetch.message.max.bytes": 4 * value_size}


class Window:
    """Wall, broker-CPU and client-CPU time over one measured window."""

    def __init__(self, broker_pid: int) -> None:
        self.pid = broker_pid
        self.t0 = time.perf_counter()
        self.b0 = cpu_seconds(broker_pid)
        self.c0 = time.process_time()
        self.wall = self.broker_cpu = self.client_cpu = 0.0

    def stop(self) -> Window:
        self.wall = time.perf_counter() - self.t0
        self.broker_cpu = cpu_seconds(self.pid) - self.b0
        self.client_cpu = time.process_time() - self.c0
        return self

    def metrics(self) -> dict[str, float]:
        wall = max(self.wall, 1e-9)
        return {"seconds": round(self.wall, 3),
                "broker_cpu_s": round(self.broker_cpu, 3),
                "broker_cpu_pct": round(100 * self.broker_cpu / wall, 1),
                "client_cpu_pct": round(100 * self.client_cpu / wall, 1)}


def throughput(w: Window, messages: int, nbytes: int) -> dict[str, Any]:
    wall = max(w.wall, 1e-9)
    out: dict[str, Any] = {"messages": messages, "bytes": nbytes,
                           "mb_s": round(nbytes / MB / wall, 2),
                           "msgs_s": round(messages / wall, 1)}
    out.update(w.metrics())
    if messages:
        out["broker_cpu_us_per_msg"] = round(1e6 * w.broker_cpu / messages, 2)
        out["broker_cpu_ms_per_mb"] = round(1e3 * w.broker_cpu / (nbytes / MB), 3)
    return out


class _Delivery:
    """Failed-delivery counter for a producer (it asks librdkafka for failures only)."""

    def __init__(self) -> None:
        self.err = 0
        self.first_err = ""

    def report(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self.err += 1
            self.first_err = self.first_err or str(err)


def produce(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Produce as fast as the client allows for `duration` s (or `max_bytes`, or `count`).

    `partitions` > 0 spreads messages round-robin over that many partitions explicitly, so
    every request carries a batch for each; 0 leaves the choice to the client.

    librdkafka reports failed messages only (`delivery.report.only.error`) and the loop polls
    every 64 messages; acknowledged = sent - failed - left after the final flush. A Python
    delivery callback per message made the load generator, not the broker, the limit at 1 KiB.
    """
    size: int = args["value_size"]
    conf = client_conf(args["bootstrap"], acks=str(args["acks"]), **size_conf(size),
                       delivery_report_only_error=True, **args.get("conf", {}))
    p = Producer(conf)
    topic: str = args["topic"]
    p.list_topics(topic, timeout=10)  # connect and learn leaders before the clock starts
    value = os.urandom(size)
    if args.get("half_zero"):  # compressible to about half, like typical payloads
        value = value[: size // 2] + bytes(size - size // 2)
    nparts: int = args.get("partitions", 0)
    limit_msgs: int = args.get("count") or max(1, args["max_bytes"] // size)
    state = _Delivery()

    w = Window(args["broker_pid"])
    deadline = w.t0 + args["duration"] if not args.get("count") else float("inf")
    sent = 0
    while sent < limit_msgs:
        if (sent & 63) == 0 and time.perf_counter() > deadline:
            break
        try:
            if nparts:
                p.produce(topic, value, partition=sent % nparts, on_delivery=state.report)
            else:
                p.produce(topic, value, on_delivery=state.report)
        except BufferError:
            p.poll(0.001)
            continue
        sent += 1
        if (sent & 63) == 0:
            p.poll(0)
    left = p.flush(args.get("flush_timeout", 60))
    w.stop()
    ok = sent - state.err - left
    out = throughput(w, ok, ok * size)
    out.update(errors=state.err + left, undelivered=left)
    if state.first_err:
        out["first_error"] = state.first_err
    return out


def consume(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Read `expected` messages from offset 0 of every partition (assign, no group).

    Gives up after `timeout` s, or `idle_timeout` s without a message.
    """
    size: int = args["value_size"]
    # librdkafka sleeps fetch.queue.backoff.ms (1 s by default) whenever its local queue is
    # full, which a broker faster than the Python loop reading the queue triggers; the same
    # shorter backoff for both brokers keeps that client pause out of the broker's figure.
    conf = client_conf(args["bootstrap"], group_id="bench-consume", enable_auto_commit=False,
                       fetch_queue_backoff_ms=10, **fetch_conf(size), **args.get("conf", {}))
    c = Consumer(conf)
    topic: str = args["topic"]
    expected: int = args["expected"]
    try:
        c.list_topics(topic, timeout=10)
        w = Window(args["broker_pid"])
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(args["partitions"])])
        got = nbytes = errors = 0
        # consume() returns when it has `per_call` messages or at its timeout: ask for no more
        # than librdkafka's local queue holds (64 MiB by default), or every call of a large-
        # message run would sit out the timeout.
        per_call = max(1, min(10_000, (16 << 20) // max(size, 1)))
        deadline = w.t0 + args["timeout"]
        last_progress = time.perf_counter()
        while got < expected:
            now = time.perf_counter()
            if now > deadline or now - last_progress > args.get("idle_timeout", 15.0):
                break
            batch = c.consume(per_call, 0.5)
            if batch:
                last_progress = time.perf_counter()
            for m in batch:
                if m.error():
                    errors += 1
                    continue
                got += 1
                nbytes += len(m)
        w.stop()
    finally:
        c.close()
    out = throughput(w, got, nbytes)
    out.update(expected=expected, errors=errors, complete=got >= expected)
    return out


def warmup(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Unmeasured load before a measurement, the same on every broker, in three thirds:
    single-record requests one at a time (the per-request path), full batches of 1 KiB records
    (acks=all), then reading them all back from offset 0 (fetch and the fetch wait).

    A fresh JVM runs its first seconds of any code path interpreted or lightly compiled, and on
    this machine its compiler threads still use a core 20 s into a request-rate run; without
    a warm-up Kafka's figures would measure its JIT compiler as much as its broker.
    """
    topic: str = args["topic"]
    third = args["duration"] / 3
    value = os.urandom(1024)
    single = Producer(client_conf(args["bootstrap"], acks="1", linger_ms=0,
                                  max_in_flight_requests_per_connection=1))
    requests = 0
    deadline = time.perf_counter() + third
    while time.perf_counter() < deadline:
        single.produce(topic, value[:100], partition=0)
        single.flush(5)
        requests += 1
    p = Producer(client_conf(args["bootstrap"], acks="all", delivery_report_only_error=True))
    sent = 0
    deadline = time.perf_counter() + third
    while sent < args.get("max_messages", 100_000) and time.perf_counter() < deadline:
        try:
            p.produce(topic, value, partition=0)
            sent += 1
        except BufferError:
            p.poll(0.001)
            continue
        if (sent & 63) == 0:
            p.poll(0)
    left = p.flush(30)
    c = Consumer(client_conf(args["bootstrap"], group_id="bench-warmup",
                             enable_auto_commit=False, fetch_queue_backoff_ms=10))
    got = 0
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.perf_counter() + max(third, 2.0)
        while got < requests + sent - left and time.perf_counter() < deadline:
            got += sum(1 for m in c.consume(1000, 0.2) if not m.error())
    finally:
        c.close()
    return {"requests": requests, "produced": sent - left, "consumed": got}


def request_rate(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """One message per request, one request in flight, wait for each acknowledgement."""
    conf = client_conf(args["bootstrap"], acks=str(args["acks"]), linger_ms=0,
                       max_in_flight_requests_per_connection=1, **args.get("conf", {}))
    p = Producer(conf)
    topic: str = args["topic"]
    p.list_topics(topic, timeout=10)
    value = os.urandom(args["value_size"])
    errors: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    rtts: list[float] = []
    w = Window(args["broker_pid"])
    deadline = w.t0 + args["duration"]
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        p.produce(topic, value, on_delivery=on_delivery)
        if p.flush(10) != 0:
            errors.append("flush timed out")
            break
        rtts.append(time.perf_counter() - t)
    w.stop()
    n = len(rtts)
    out: dict[str, Any] = {"requests": n, "req_s": round(n / max(w.wall, 1e-9), 1),
                           "errors": len(errors)}
    out.update(w.metrics())
    if n:
        rtts.sort()
        out["broker_cpu_us_per_req"] = round(1e6 * w.broker_cpu / n, 1)
        out["rtt_p50_ms"] = round(1e3 * rtts[n // 2], 3)
        out["rtt_p99_ms"] = round(1e3 * rtts[min(n - 1, int(n * 0.99))], 3)
    if errors:
        out["first_error"] = errors[0]
    return out


def latency_consumer(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Receive `expected` stamped messages; latency = receive time - stamp (CLOCK_MONOTONIC)."""
    conf = client_conf(args["bootstrap"], group_id="bench-latency", enable_auto_commit=False)
    c = Consumer(conf)  # default fetch.wait.max.ms on purpose
    topic: str = args["topic"]
    lat_ns: list[int] = []
    try:
        c.list_topics(topic, timeout=10)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        c.poll(1.0)  # fetcher started and waiting
        emit("ready", None)
        deadline = time.monotonic() + args["timeout"]
        while len(lat_ns) < args["expected"] and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            now = time.monotonic_ns()
            value = m.value()
            if value is not None and len(value) >= 8:
                lat_ns.append(now - struct.unpack_from("<q", value)[0])
    finally:
        c.close()
    n = len(lat_ns)
    out: dict[str, Any] = {"received": n, "expected": args["expected"]}
    if n:
        lat_ns.sort()
        out.update(p50_ms=round(lat_ns[n // 2] / 1e6, 3),
                   p99_ms=round(lat_ns[min(n - 1, int(n * 0.99))] / 1e6, 3),
                   max_ms=round(lat_ns[-1] / 1e6, 3),
                   mean_ms=round(sum(lat_ns) / n / 1e6, 3))
    return out


def latency_producer(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Produce stamped messages at a fixed rate (acks=all)."""
    conf = client_conf(args["bootstrap"], acks="all")
    p = Producer(conf)
    topic: str = args["topic"]
    p.list_topics(topic, timeout=10)
    pad = b"\0" * max(0, args["value_size"] - 8)
    total: int = args["count"]
    interval = 1.0 / args["rate"]
    w = Window(args["broker_pid"])
    behind = 0
    for i in range(total):
        slot = w.t0 + i * interval
        delay = slot - time.perf_counter()
        if delay > 0:
            p.poll(delay)  # serve delivery reports while waiting for the slot
        elif delay < -interval:
            behind += 1
        p.produce(topic, struct.pack("<q", time.monotonic_ns()) + pad, partition=0)
        p.poll(0)
    left = p.flush(30)
    w.stop()
    out: dict[str, Any] = {"produced": total, "undelivered": left, "late_sends": behind,
                           "achieved_rate": round(total / max(w.wall, 1e-9), 1)}
    out.update(w.metrics())
    return out


def group_join(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """A single consumer: time from subscribe() to assignment and to its first message."""
    conf = client_conf(args["bootstrap"], group_id=args["group"], auto_offset_reset="earliest")
    c = Consumer(conf)
    topic: str = args["topic"]
    marks: dict[str, float] = {}
    try:
        c.list_topics(topic, timeout=10)
        t0 = time.perf_counter()

        def on_assign(_c: Any, _parts: Any) -> None:
            marks.setdefault("assigned", time.perf_counter() - t0)

        c.subscribe([topic], on_assign=on_assign)
        while time.perf_counter() - t0 < args["timeout"]:
            m = c.poll(0.1)
            if m is not None and not m.error():
                marks["first"] = time.perf_counter() - t0
                break
    finally:
        c.close()
    if "first" not in marks:
        raise TimeoutError(f"no message within {args['timeout']}s after subscribe")
    out = {"join_to_first_ms": round(1e3 * marks["first"], 1)}
    if "assigned" in marks:
        out["join_to_assigned_ms"] = round(1e3 * marks["assigned"], 1)
    return out


def produce_each_partition(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """One small message to every partition of every topic in `topics` ({name: partitions})."""
    p = Producer(client_conf(args["bootstrap"], acks="all"))
    failed: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    t0 = time.perf_counter()
    n = 0
    for topic, parts in args["topics"].items():
        for part in range(parts):
            while True:
                try:
                    p.produce(topic, b"startup", partition=part, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.01)
            n += 1
            p.poll(0)
    left = p.flush(120)
    return {"messages": n, "undelivered": left, "errors": len(failed),
            "seconds": round(time.perf_counter() - t0, 3)}


def produce_latency(args: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Idempotent produce at a steady rate; latency of each message from produce() to its
    delivery report (the broker's acknowledgement), with p50/p99/p999/max."""
    # batch.size well below the small segment.bytes, so a burst never makes one batch larger
    # than a segment (RECORD_LIST_TOO_LARGE).
    conf = client_conf(args["bootstrap"], acks=args.get("acks", "all"), linger_ms=0,
                       enable_idempotence=True, batch_size=16384)
    p = Producer(conf)
    topic: str = args["topic"]
    p.list_topics(topic, timeout=10)
    value = b"x" * args["value_size"]
    lat: list[float] = []
    worst = (0.0, 0.0)  # (latency, seconds into the window it was sent)
    errors: list[str] = []
    warmup = args.get("warmup_s", 1.0)

    def delivered(err: Any, _msg: Any, sent: float) -> None:
        nonlocal worst
        if err is not None:
            errors.append(str(err))
        elif sent >= w.t0:
            took = time.perf_counter() - sent
            lat.append(took)
            worst = max(worst, (took, sent - w.t0))

    # Warm-up (not measured): producer id, metadata, first connections.
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        p.produce(topic, value, partition=0)
        p.poll(1.0 / args["rate"])
    p.flush(30)
    interval = 1.0 / args["rate"]
    w = Window(args["broker_pid"])
    total = int(args["rate"] * args["duration"])
    behind = 0
    for i in range(total):
        delay = w.t0 + i * interval - time.perf_counter()
        if delay > 0:
            p.poll(delay)
        elif delay < -interval:
            behind += 1
        sent = time.perf_counter()
        p.produce(topic, value, partition=0,
                  on_delivery=lambda err, msg, sent=sent: delivered(err, msg, sent))
        p.poll(0)
    left = p.flush(30)
    w.stop()
    n = len(lat)
    out: dict[str, Any] = {"produced": total, "delivered": n, "undelivered": left,
                           "errors": len(errors), "late_sends": behind}
    out.update(w.metrics())
    if n:
        lat.sort()

        def pct(q: float) -> float:
            return round(1e3 * lat[min(n - 1, int(n * q))], 3)

        out.update(p50_ms=pct(0.50), p99_ms=pct(0.99), p999_ms=pct(0.999),
                   max_ms=round(1e3 * lat[-1], 3), max_sent_at_s=round(worst[1], 3),
                   over_10ms=sum(1 for x in lat if x > 0.010))
    if errors:
        out["first_error"] = errors[0]
    return out
