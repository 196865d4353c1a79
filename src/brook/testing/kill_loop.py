"""Kill -9 loop: idempotent acks=all producers and a committing consumer against a broker
that is killed and restarted ``cycles`` times; the result is a :class:`History` to check.

All choices (how long each cycle runs, which partition each record goes to, when the
consumer commits) come from one seeded generator, printed by the caller, so a failing run can
be replayed with the same decisions (timing on a real machine still varies).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from brook.env import Rng
from brook.testing.clients import create_topic, read_partition
from brook.testing.history import History, record_value
from brook.testing.process import BrokerProcess

__all__ = ["KillLoopConfig", "run_kill_loop"]


@dataclass(frozen=True)
class KillLoopConfig:
    cycles: int = 10
    partitions: int = 4
    producers: int = 2
    min_run_s: float = 0.3
    max_run_s: float = 1.0
    batch: int = 20
    """Records each producer queues per round."""
    max_outstanding: int = 1_000
    """A producer queues no more while this many of its records await acknowledgement."""
    topic: str = "kill-loop"
    group: str = "kill-loop-group"


def _producer(bootstrap: str, errors: list[str]) -> Any:
    def on_error(err: Any) -> None:
        if err.fatal():
            errors.append(f"fatal producer error: {err}")

    return Producer({
        "error_cb": on_error,
        "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 2, "max.in.flight.requests.per.connection": 5,
        "message.timeout.ms": 60_000, "retry.backoff.ms": 50, "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500, "queue.buffering.max.messages": 200_000,
        "log_level": 2,  # connection-refused noise while the broker is down
    })


def _consumer(bootstrap: str, group: str) -> Any:
    return Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
        "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 50, "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
        "socket.timeout.ms": 5000, "log_level": 2,
    })


def run_kill_loop(broker: BrokerProcess, seed: int, config: KillLoopConfig = KillLoopConfig(),
                  log: Callable[[str], None] = print) -> History:
    rng = Rng(seed)
    history = History()
    topic, group = config.topic, config.group
    create_topic(broker.bootstrap, topic, config.partitions, {"retention.ms": "-1"})
    failed: list[str] = []
    fatal: list[str] = []
    producers = [_producer(broker.bootstrap, fatal) for _ in range(config.producers)]
    sequences = [0] * config.producers

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            history.ack(msg.value(), (msg.topic(), msg.partition()), msg.offset())
        else:
            failed.append(str(err))

    consumer = _consumer(broker.bootstrap, group)
    positions = {p: 0 for p in range(config.partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(config.partitions)])

    def produce_round() -> None:
        for i, producer in enumerate(producers):
            if len(producer) >= config.max_outstanding:
                producer.poll(0)
                continue
            for _ in range(config.batch):
                partition = rng.randint(0, config.partitions - 1)
                producer.produce(topic, value=record_value(i, sequences[i]), partition=partition,
                                 on_delivery=on_delivery)
                sequences[i] += 1
            producer.poll(0)

    def consume_round(when: str) -> None:
        for msg in consumer.consume(500, 0.05):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log(f"consumer: {err}")
                continue
            history.observe((topic, msg.partition()), msg.offset(), msg.value(), when)
            positions[msg.partition()] = msg.offset() + 1
        if rng.random() < 0.3:
            commit(when)

    def commit(when: str) -> None:
        offsets = {p: o for p, o in positions.items() if o > 0}
        if not offsets:
            return
        try:
            consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                            asynchronous=False)
        except KafkaException as exc:
            log(f"commit failed ({when}): {exc}")
            return
        for p, o in offsets.items():
            history.commit_acked((topic, p), o)

    def check_committed(when: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                got = consumer.committed(
                    [TopicPartition(topic, p) for p in range(config.partitions)], timeout=10)
                break
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise
                log(f"committed() failed ({when}), retrying: {exc}")
                time.sleep(0.2)
        for tp in got:
            if tp.offset >= 0 or history.commits_acked.get((topic, tp.partition), -1) >= 0:
                history.commit_seen((topic, tp.partition), int(tp.offset), when)

    for cycle in range(config.cycles):
        when = f"cycle {cycle}"
        run_s = config.min_run_s + rng.random() * (config.max_run_s - config.min_run_s)
        started = time.monotonic()
        until = started + run_s
        acked_before = len(history.acked)
        # Kill only once this incarnation has acknowledged something (or after a long
        # wait): a loop whose kills always land before the producers recover tests nothing.
        while time.monotonic() < until or (
                len(history.acked) == acked_before and time.monotonic() < started + 30):
            produce_round()
            consume_round(when)
        waited = time.monotonic() - started
        if len(history.acked) == acked_before:
            history.stalled_cycles += 1
            log(f"cycle {cycle}: nothing acknowledged within {waited:.1f}s")
        produce_round()  # in flight at the kill
        broker.kill()
        broker.start()
        check_committed(f"after restart {cycle}")
        log(f"cycle {cycle}: {len(history.acked)} acknowledged, {len(failed)} given up, "
            f"{sum(len(p) for p in producers)} outstanding")

    deadline = time.monotonic() + 90
    for producer in producers:
        remaining = producer.flush(max(1.0, deadline - time.monotonic()))
        if remaining:
            failed.append(f"{remaining} records still undelivered")
    consume_round("drain")
    commit("drain")
    check_committed("end")
    consumer.close()
    for p in range(config.partitions):
        records = [(o, v) for o, _, v in read_partition(broker.bootstrap, topic, p, timeout=60)
                   if v is not None]
        history.final_read((topic, p), records)
    history.unacknowledged = len(failed)
    history.fatal_errors = fatal
    if failed:
        log(f"{len(failed)} records not acknowledged, e.g. {failed[:3]}")
    return history
