"""How long acks=all produce stops on a partition when its leader is killed.

One etcd and three brokers in three racks, as ``brook up --azs 3 --brokers-per-az 1`` makes
them, with the product's defaults (``broker.session.timeout.ms``, ``replica.lag.time.max.ms``)
unless overridden. A topic of one partition, replication factor 3, ``min.insync.replicas`` 2.
Each round waits until the partition has a leader and a full ISR on every broker, checks that
an idempotent acks=all producer (confluent-kafka, already connected) is acknowledged, kill -9s
the partition's leader, and times until the first record produced after the kill is
acknowledged: the cluster has to notice the dead broker (its peers see its listener refuse
connections and end its session, or the session runs out), elect a leader from the ISR, the
client has to learn it, and the new leader's ISR has to take the record. Then the killed broker is started again and the next round waits for it to be back in
the ISR. At the end every acknowledged record is read back from the partition (a fast
failover that lost acknowledged records would be no figure at all).

    python -m bench.replicated_failover [--rounds 20] [--session-timeout-ms N]

Prints one JSON line per round and a summary line (median, p99, max in seconds). Needs
replication (follower fetch, ISR, election from the ISR): without it acks=all with
min.insync.replicas=2 is refused and the first round says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from brook.testing.clients import read_partition
from brook.testing.fault_cluster import ClusterConfig, FaultCluster

TOPIC = "failover"
LIMIT_S = 120.0
"""A round that sees no acknowledgement for this long is a failure, not a figure."""


class Acks:
    """An idempotent acks=all producer to partition 0 that remembers what was acknowledged."""

    def __init__(self, bootstrap: str) -> None:
        self.acked: dict[bytes, int] = {}
        self.errors: list[str] = []
        self.sent = 0
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 0, "message.timeout.ms": int(LIMIT_S * 1000),
            "retry.backoff.ms": 20, "retry.backoff.max.ms": 100,
            "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
            "topic.metadata.refresh.fast.interval.ms": 50,
            "error_cb": lambda err: self.errors.append(str(err)) if err.fatal() else None,
            "log_level": 2,
        })

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.acked[msg.value()] = msg.offset()
        else:
            self.errors.append(str(err))

    def send(self) -> bytes:
        value = b"record-%d" % self.sent
        self.sent += 1
        self.producer.produce(TOPIC, value=value, partition=0, on_delivery=self._delivered)
        self.producer.poll(0)
        return value

    def wait(self, value: bytes, limit_s: float) -> float | None:
        """Seconds until ``value`` is acknowledged (None: a fatal error or the limit)."""
        started = time.monotonic()
        while value not in self.acked:
            if self.errors or time.monotonic() - started > limit_s:
                return None
            self.producer.poll(0.001)
        return time.monotonic() - started


def run(rounds: int, session_timeout_ms: int | None, replica_lag_ms: int | None,
        keep: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-replicated-failover-"))
    config = ClusterConfig(session_timeout_ms=session_timeout_ms, replica_lag_ms=replica_lag_ms,
                           proxies=False, stallable_disks=False,
                           cluster_id="bench-replicated-failover")
    cluster = FaultCluster(work, config, log=lambda line: print(line, file=sys.stderr))
    results: list[float] = []
    try:
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, 3, config={"min.insync.replicas": "2"})],
                            operation_timeout=30)[TOPIC].result(60)
        acks = Acks(cluster.bootstrap)
        for r in range(rounds):
            cluster.wait_settled([TOPIC], timeout=LIMIT_S)
            if acks.wait(acks.send(), 30) is None:
                raise RuntimeError(f"acks=all is not acknowledged before the kill: "
                                   f"{acks.errors[:3]} (is the partition replicated?)")
            leader = cluster.leader(TOPIC, 0)
            cluster.kill(leader)
            took = acks.wait(acks.send(), LIMIT_S)
            if took is None:
                raise RuntimeError(f"round {r}: no acknowledgement within {LIMIT_S}s of killing "
                                   f"broker {leader}: {acks.errors[:3]}")
            record = {"bench": "replicated_failover", "round": r, "killed": leader,
                      "new_leader": cluster.leader(TOPIC, 0),
                      "first_ack_after_kill_s": round(took, 3)}
            print(json.dumps(record), flush=True)
            results.append(took)
            cluster.start_broker(leader)
        cluster.wait_settled([TOPIC], timeout=LIMIT_S)
        if acks.producer.flush(30):
            raise RuntimeError("records still unacknowledged at the end")
        log = {v: o for o, _, v in read_partition(cluster.bootstrap, TOPIC, 0) if v is not None}
        lost = {v: o for v, o in acks.acked.items() if log.get(v) != o}
        if lost:
            raise RuntimeError(f"{len(lost)} acknowledged records lost or moved, e.g. "
                               f"{list(lost.items())[:5]}")
    finally:
        cluster.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    ordered = sorted(results)
    return {
        "bench": "replicated_failover_summary", "rounds": len(results),
        "median_s": round(ordered[len(ordered) // 2], 3),
        "p99_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max_s": round(ordered[-1], 3),
        "broker_session_timeout_ms": session_timeout_ms or "default",
        "replica_lag_time_max_ms": replica_lag_ms or "default",
        "acknowledged": len(acks.acked),
        "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--session-timeout-ms", type=int, default=None,
                        help="broker.session.timeout.ms (default: the product's)")
    parser.add_argument("--replica-lag-ms", type=int, default=None,
                        help="replica.lag.time.max.ms (default: the product's)")
    parser.add_argument("--keep", action="store_true", help="keep the data and broker logs")
    args = parser.parse_args()
    summary = run(args.rounds, args.session_timeout_ms, args.replica_lag_ms, args.keep)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
