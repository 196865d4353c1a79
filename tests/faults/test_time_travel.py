"""Time passing must not lose acknowledged data: real brokers whose clock jumps days ahead.

Each test runs ``python -m brook.testing.warp_broker`` (the production broker with a clock a
test moves through a control file), moves it past a retention or expiry horizon, restarts it
and checks what must have survived. Records written before a jump carry the real time, so
after the jump they are days old to the broker, exactly as if the days had passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Producer

from brook.storage.producer_state_entry import list_snapshot_offsets, read_snapshot, snapshot_path
from brook.testing.clients import (
    commit,
    committed,
    create_topic,
    read_partition,
    topic_names,
    watermarks,
)
from brook.testing.process import BrokerProcess
from brook.testing.wire import IdempotentSender, WireClient

pytestmark = pytest.mark.timeout(180)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Background work at test speed: retention and cleanup checks every half second of broker time.
FAST_CHECKS = {
    "log.retention.check.interval.ms": "500",
    "offsets.retention.check.interval.ms": "500",
    "producer.id.expiration.check.interval.ms": "500",
}
SETTLE_S = 2.0
"""Real seconds for the broker's periodic tasks (1 s tick) to act on a jump."""

WarpFactory = Callable[..., BrokerProcess]


def produce(bootstrap: str, topic: str, values: list[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """acks=all, idempotent; (partition, offset) of each record in order."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5})
    out: dict[int, tuple[int, int]] = {}
    errors: list[object] = []
    for i, (partition, value) in enumerate(values):
        def done(err: object, msg: object, i: int = i) -> None:
            if err is not None:
                errors.append(err)
            else:
                out[i] = (msg.partition(), msg.offset())  # type: ignore[attr-defined]
        p.produce(topic, value=value, partition=partition, on_delivery=done)
        p.poll(0)
    assert p.flush(30) == 0 and not errors, errors[:3]
    return [out[i] for i in range(len(values))]


def assert_all_there(bootstrap: str, topic: str, expected: dict[int, list[bytes]]) -> None:
    for partition, values in expected.items():
        got = read_partition(bootstrap, topic, partition)
        assert [(o, v) for o, _, v in got] == list(enumerate(values)), (
            f"{topic}-{partition}: {len(got)} of {len(values)} records after the jump; "
            f"watermarks {watermarks(bootstrap, topic, partition)}")


def test_idle_week_keeps_topics_data_and_committed_offsets(warp_broker: WarpFactory) -> None:
    """Eight idle days (twice) under the default retention of seven days: the metadata log,
    the topic list, a retention.ms=-1 topic's data and a group's committed offsets all survive, and a
    restart finds them again. Offsets are kept 30 days so their expiry is not legitimate."""
    broker = warp_broker(**FAST_CHECKS, **{"offsets.retention.minutes": str(30 * 24 * 60)})
    create_topic(broker.bootstrap, "kept", partitions=2, config={"retention.ms": "-1"})
    create_topic(broker.bootstrap, "aged", partitions=1)
    kept = {p: [b"kept-%d-%d" % (p, i) for i in range(50)] for p in (0, 1)}
    produce(broker.bootstrap, "kept", [(p, v) for p in (0, 1) for v in kept[p]])
    produce(broker.bootstrap, "aged", [(0, b"aged-%d" % i) for i in range(20)])
    offsets = {("kept", 0): 30, ("kept", 1): 50, ("aged", 0): 20}
    commit(broker.bootstrap, "idle-group", offsets)
    assert committed(broker.bootstrap, "idle-group", list(offsets)) == offsets

    # Two idle weeks, each ended by a restart: the first incarnation and a restarted one
    # open their logs differently, and both must keep everything.
    for week in (1, 2):
        broker.warp(8 * DAY_MS)
        time.sleep(SETTLE_S)
        broker.restart()
        topics = topic_names(broker.bootstrap)
        assert topics.get("kept") == 2 and topics.get("aged") == 1, (
            f"topics after idle week {week} and a restart: {sorted(topics)}")
        assert committed(broker.bootstrap, "idle-group", list(offsets)) == offsets, week
        assert_all_there(broker.bootstrap, "kept", kept)
        # "aged" is a default-retention topic: its data may go after a week, its offsets not.
        low, high = watermarks(broker.bootstrap, "aged", 0)
        assert high == 20 and low in (0, 20), (week, low, high)
    # New writes continue the offsets; nothing is reused.
    assert produce(broker.bootstrap, "aged", [(0, b"after")]) == [(0, 20)]
    assert produce(broker.bootstrap, "kept", [(1, b"after")]) == [(1, 50)]


def test_retention_minus_one_topic_survives_short_broker_default(
        warp_broker: WarpFactory) -> None:
    """log.retention.ms of one minute for the broker, retention.ms=-1 for one topic: an hour
    later, and after a clean restart and a kill -9 restart, that topic still has every
    record, while the default topic's records are gone (proof that retention ran)."""
    broker = warp_broker(**FAST_CHECKS, **{"log.retention.ms": "60000"})
    create_topic(broker.bootstrap, "forever", partitions=1, config={"retention.ms": "-1"})
    create_topic(broker.bootstrap, "brief", partitions=1)
    forever = {0: [b"forever-%d" % i for i in range(40)]}
    produce(broker.bootstrap, "forever", [(0, v) for v in forever[0]])
    produce(broker.bootstrap, "brief", [(0, b"brief-%d" % i) for i in range(40)])

    broker.warp(HOUR_MS)
    time.sleep(SETTLE_S)
    assert watermarks(broker.bootstrap, "brief", 0) == (40, 40), "retention did not run"
    assert_all_there(broker.bootstrap, "forever", forever)

    broker.restart()
    broker.warp(HOUR_MS)
    time.sleep(SETTLE_S)
    assert set(topic_names(broker.bootstrap)) >= {"forever", "brief"}
    assert_all_there(broker.bootstrap, "forever", forever)

    broker.kill()
    broker.start()
    broker.warp(HOUR_MS)
    time.sleep(SETTLE_S)
    assert_all_there(broker.bootstrap, "forever", forever)
    assert watermarks(broker.bootstrap, "brief", 0) == (40, 40)


def _snapshot_producers(partition_dir: Path) -> tuple[set[int], int]:
    """(producer ids, file size) of the newest producer-state snapshot of a partition."""
    offsets = list_snapshot_offsets(partition_dir)
    assert offsets, f"no snapshot in {partition_dir}"
    path = snapshot_path(partition_dir, offsets[-1])
    return {e.producer_id for e in read_snapshot(path)}, path.stat().st_size


def test_expired_producer_ids_leave_the_state_and_a_live_one_still_dedups(
        warp_broker: WarpFactory) -> None:
    """200 one-batch producers and one long-lived producer; after producer.id.expiration.ms
    (one hour) of broker time only the long-lived one is still in the partition's producer
    state (the snapshot written at the next stop holds it alone), and a retry of its last
    batch is still answered with the first offsets instead of being written twice."""
    broker = warp_broker(**FAST_CHECKS, **{"producer.id.expiration.ms": str(HOUR_MS)})
    topic = "pids"
    # LogAppendTime: producer idleness is measured on batch timestamps, so they must come from
    # the broker's (warped) clock rather than from this process's real one.
    create_topic(broker.bootstrap, topic, config={
        "retention.ms": "-1", "message.timestamp.type": "LogAppendTime"})
    partition_dir = broker.data_dir / f"{topic}-0"
    short_lived = 200
    with WireClient(broker.bootstrap) as client:
        live = IdempotentSender(client, topic)
        assert live.send([b"live-0"]) == (0, 0)
        for i in range(short_lived):
            sender = IdempotentSender(client, topic)
            assert sender.send([b"once-%d" % i]) == (0, i + 1)
    broker.restart()
    before, size_before = _snapshot_producers(partition_dir)
    assert len(before) == short_lived + 1 and live.producer_id in before

    broker.warp(50 * 60_000)  # the live producer writes again 50 minutes later
    with WireClient(broker.bootstrap) as client:
        live.client = client
        assert live.send([b"live-1"]) == (0, short_lived + 1)
    broker.warp(50 * 60_000)  # 100 minutes after the one-batch producers, 50 after live-1
    time.sleep(SETTLE_S)
    with WireClient(broker.bootstrap) as client:
        live.client = client
        assert live.send([b"live-1"], sequence=1) == (0, short_lived + 1), "retry not deduplicated"
        assert live.send([b"live-2"]) == (0, short_lived + 2)
    values = [v for _, _, v in read_partition(broker.bootstrap, topic, 0)]
    assert values.count(b"live-1") == 1 and len(values) == short_lived + 3

    assert broker.stop() == 0
    after, size_after = _snapshot_producers(partition_dir)
    assert after == {live.producer_id}, (
        f"{len(after)} producers still in the state after expiry "
        f"(snapshot {size_before} -> {size_after} bytes)")
    assert size_after < size_before
