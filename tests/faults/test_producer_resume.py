"""Idempotent acks=all producers resume within seconds after the broker is killed and restarted.

For each client library: a record is in flight when the broker gets SIGKILL; once the broker
is back, the producer sends another record, and both must be acknowledged within
``RESUME_BOUND_S`` of the restart. At the end every acknowledged record is in the log once,
at the offset it was acknowledged with. The resume times are printed (``-s``) as figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer
from kafka import KafkaProducer

from brook.testing.clients import create_topic, read_partition
from brook.testing.process import BrokerProcess

WarpFactory = Callable[..., BrokerProcess]

pytestmark = pytest.mark.timeout(240)

RESTARTS = 3
RESUME_BOUND_S = 10.0
"""A few seconds of client backoff and re-bootstrap, with room for a loaded two-core box."""
TOPIC = "resume"


def _check_log(broker: BrokerProcess, acked: dict[bytes, int]) -> None:
    records = [(o, v) for o, _, v in read_partition(broker.bootstrap, TOPIC, 0, timeout=30)]
    values = [v for _, v in records]
    assert sorted(values) == sorted(acked), (values, acked)
    assert dict((v, o) for o, v in records) == acked


def _report(client: str, resumes: list[float]) -> None:
    print(f"{client}: resumed {[round(r, 2) for r in resumes]} s after each restart")
    assert max(resumes) < RESUME_BOUND_S, resumes


def test_confluent_kafka_resumes_after_kill9(warp_broker: WarpFactory) -> None:
    broker = warp_broker()
    create_topic(broker.bootstrap, TOPIC, 1)
    acked: dict[bytes, int] = {}
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked[msg.value()] = msg.offset()
        else:
            errors.append(str(err))

    producer = Producer({
        "bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 2, "message.timeout.ms": 120_000, "log_level": 2,
        "error_cb": lambda err: errors.append(str(err)) if err.fatal() else None,
    })

    def wait_for(values: list[bytes], deadline: float) -> None:
        while not all(v in acked for v in values) and not errors:
            assert time.monotonic() < deadline, f"not acknowledged: {values}"
            producer.poll(0.02)

    producer.produce(TOPIC, value=b"warm-up", partition=0, on_delivery=on_delivery)
    wait_for([b"warm-up"], time.monotonic() + 30)
    resumes = []
    for cycle in range(RESTARTS):
        producer.produce(TOPIC, value=b"in-flight-%d" % cycle, partition=0,
                         on_delivery=on_delivery)
        producer.poll(0)
        broker.kill()
        broker.start()
        restarted = time.monotonic()
        producer.produce(TOPIC, value=b"after-%d" % cycle, partition=0, on_delivery=on_delivery)
        wait_for([b"in-flight-%d" % cycle, b"after-%d" % cycle], restarted + 60)
        resumes.append(time.monotonic() - restarted)
    assert not errors, errors
    assert producer.flush(30) == 0
    _report("confluent-kafka", resumes)
    _check_log(broker, acked)


def test_kafka_python_resumes_after_kill9(warp_broker: WarpFactory) -> None:
    broker = warp_broker()
    create_topic(broker.bootstrap, TOPIC, 1)
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
        reconnect_backoff_max_ms=1000, request_timeout_ms=10_000, delivery_timeout_ms=120_000,
    )
    try:
        acked = {b"warm-up": producer.send(TOPIC, b"warm-up", partition=0).get(30).offset}
        resumes = []
        for cycle in range(RESTARTS):
            in_flight = producer.send(TOPIC, b"in-flight-%d" % cycle, partition=0)
            broker.kill()
            broker.start()
            restarted = time.monotonic()
            after = producer.send(TOPIC, b"after-%d" % cycle, partition=0)
            acked[b"in-flight-%d" % cycle] = in_flight.get(60).offset
            acked[b"after-%d" % cycle] = after.get(60).offset
            resumes.append(time.monotonic() - restarted)
    finally:
        producer.close(10)
    _report("kafka-python", resumes)
    _check_log(broker, acked)


def test_aiokafka_resumes_after_kill9(warp_broker: WarpFactory) -> None:
    broker = warp_broker()
    create_topic(broker.bootstrap, TOPIC, 1)
    acked: dict[bytes, int] = {}
    resumes: list[float] = []

    async def main() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all",
            linger_ms=2, retry_backoff_ms=50, request_timeout_ms=10_000,
        )
        await producer.start()
        try:
            acked[b"warm-up"] = (await producer.send_and_wait(TOPIC, b"warm-up",
                                                              partition=0)).offset
            for cycle in range(RESTARTS):
                in_flight = await producer.send(TOPIC, b"in-flight-%d" % cycle, partition=0)
                await asyncio.sleep(0)
                await asyncio.to_thread(broker.kill)
                await asyncio.to_thread(broker.start)
                restarted = time.monotonic()
                after = await producer.send(TOPIC, b"after-%d" % cycle, partition=0)
                acked[b"in-flight-%d" % cycle] = (await asyncio.wait_for(in_flight, 60)).offset
                acked[b"after-%d" % cycle] = (await asyncio.wait_for(after, 60)).offset
                resumes.append(time.monotonic() - restarted)
        finally:
            await producer.stop()

    asyncio.run(main())
    _report("aiokafka", resumes)
    _check_log(broker, acked)
