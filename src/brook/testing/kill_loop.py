"""Kill -9 loop: idempotent acks=all producers and a committing consumer against a broker
that is killed and restarted ``cycles`` times; the result is a :class:`History` to check.

All choices (how long each cycle runs, which partition each record goes to, when the
consumer commits) come from one seeded generator, printed by the caller, so a failing run can
be replayed with the same decisions (timing on a real machine still varies).

Each incarnation lives until *every* producer has had an acknowledgement from it (see
:func:`ready_to_kill`). librdkafka (2.10 and later) answers "all brokers down" with a
re-bootstrap that forgets the partition leaders; after reconnecting to the bootstrap address
it asks for Metadata only on its partition-leader query tick, up to ``retry.backoff.max.ms``
(1 s by default) later, and until then sends nothing but ApiVersions. A loop that killed the
broker as soon as *any* producer was acknowledged could therefore starve one producer for
minutes: the other producer's acknowledgements kept the kills coming before the first one's
next tick, through no answer of the broker (a Kafka broker killed as often does the same).
Waiting for each producer keeps every producer in play every cycle; an incarnation in which
some producer gets nothing within ``stall_s`` still counts as a stalled cycle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from brook.env import Rng
from brook.testing.clients import create_topic, read_partition
from brook.testing.history import History, record_value
from brook.testing.process import BrokerProcess

__all__ = ["KillLoopConfig", "ready_to_kill", "run_kill_loop"]


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
    stall_s: float = 30.0
    """How long an incarnation waits for every producer's first acknowledgement."""


def ready_to_kill(elapsed_s: float, run_s: float, acked_this_incarnation: Sequence[int],
                  stall_s: float) -> bool:
    """Whether the loop may kill the broker ``elapsed_s`` into an incarnation.

    Not before ``run_s``; then only once each producer has had an acknowledgement from this
    incarnation (a kill that lands before a producer recovers tests nothing for it), or once
    ``stall_s`` has passed, which the caller reports as a stalled cycle.
    """
    if elapsed_s < run_s:
        return False
    return all(n > 0 for n in acked_this_incarnation) or elapsed_s >= stall_s


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
    acks = [0] * config.producers  # acknowledgements per producer so far

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            history.ack(msg.value(), (msg.topic(), msg.partition()), msg.offset())
            acks[int(msg.value().partition(b":")[0])] += 1
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
        acks_before = list(acks)
        while not ready_to_kill(time.monotonic() - started, run_s,
                                [a - b for a, b in zip(acks, acks_before, strict=True)],
                                config.stall_s):
            produce_round()
            consume_round(when)
        waited = time.monotonic() - started
        idle = [i for i, (a, b) in enumerate(zip(acks, acks_before, strict=True)) if a == b]
        if idle:
            history.stalled_cycles += 1
            log(f"cycle {cycle}: producers {idle} got no acknowledgement within {waited:.1f}s")
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
