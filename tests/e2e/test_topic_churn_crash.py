"""Topic create/delete bursts killed (-9) at random points: metadata and disk agree after each
restart, and no topic ever serves a record of an earlier topic of the same name.

Names of every legal length 1..249 are used (the longest cannot take a plain ``.<uuid>-delete``
suffix within a 255-byte file name). Every record's value is the topic id of the topic it was
produced to, so a record of a deleted predecessor shows up as a value that is not the current
topic's id. The schedule is seeded (the seed is printed; ``BROOK_CHURN_SEED`` replays it); the
kill points are wall-clock delays, so a replay repeats the operations, not the exact timing.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from brook.storage.log_dirs import DirKind, classify
from brook.storage.log_loader import read_partition_metadata
from tests.support.ck import TIMEOUT, admin, consumer

OP_TIMEOUT = 5.0
INTERNAL = {"__consumer_offsets", "__transaction_state"}


def name_of_length(length: int) -> str:
    """A distinct legal name per length (no '.'/'_' collisions)."""
    return (f"n{length}-" + "x" * length)[:length]


NAMES = [name_of_length(n) for n in range(1, 250)]
assert len(set(NAMES)) == len(NAMES)


def topic_ids(a: AdminClient) -> dict[str, bytes]:
    names = [t for t in a.list_topics(timeout=TIMEOUT).topics if t not in INTERNAL]
    if not names:
        return {}
    futures = a.describe_topics(TopicCollection(names), request_timeout=TIMEOUT)
    return {name: _id_bytes(f.result(TIMEOUT).topic_id) for name, f in futures.items()}


def _id_bytes(uuid: Any) -> bytes:
    most, least = uuid.get_most_significant_bits(), uuid.get_least_significant_bits()
    return (most & (2**64 - 1)).to_bytes(8, "big") + (least & (2**64 - 1)).to_bytes(8, "big")


class Churn:
    """The operations one round runs until the broker is killed under it."""

    def __init__(self, bootstrap: str, rng: random.Random, existing: dict[str, bytes]) -> None:
        self.bootstrap = bootstrap
        self.rng = rng
        self.existing = dict(existing)
        self.stop = threading.Event()
        self.first_done = threading.Event()
        self.ops = 0
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all",
                                  "message.timeout.ms": 4000})
        self.admin = admin(bootstrap, **{"socket.timeout.ms": 4000})

    def run(self, first_burst: list[str] | None) -> None:
        try:
            if first_burst:
                self.create(first_burst)
            self.first_done.set()
            while not self.stop.is_set():
                absent = [n for n in NAMES if n not in self.existing]
                if absent and (not self.existing or self.rng.random() < 0.55):
                    self.create(self.rng.sample(absent, min(len(absent), self.rng.randint(5, 60))))
                else:
                    names = list(self.existing)
                    self.delete(self.rng.sample(names, min(len(names), self.rng.randint(5, 80))))
                self.ops += 1
        except Exception:  # the broker went away under an operation: the round is over
            self.first_done.set()

    def create(self, names: list[str]) -> None:
        futures = self.admin.create_topics([NewTopic(n, 1, 1) for n in names],
                                           request_timeout=OP_TIMEOUT)
        created = []
        for name, fut in futures.items():
            try:
                fut.result(OP_TIMEOUT)
                created.append(name)
            except Exception as exc:
                err = exc.args[0] if exc.args else None
                if getattr(err, "code", lambda: None)() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        if not created:
            return
        described = self.admin.describe_topics(TopicCollection(created),
                                               request_timeout=OP_TIMEOUT)
        for name, fut in described.items():
            topic_id = _id_bytes(fut.result(OP_TIMEOUT).topic_id)
            self.existing[name] = topic_id
            self.producer.produce(name, value=topic_id)
        if self.producer.flush(OP_TIMEOUT) != 0:
            raise TimeoutError("records not delivered")

    def delete(self, names: list[str]) -> None:
        futures = self.admin.delete_topics(names, request_timeout=OP_TIMEOUT)
        for name, fut in futures.items():
            fut.result(OP_TIMEOUT)
            self.existing.pop(name, None)

    def discard(self) -> None:
        """Drop queued records so that none reaches a later topic of the same name."""
        self.producer.purge(in_queue=True, in_flight=True)
        self.producer.flush(0)


def check_consistent(data_dir: Path, ids: dict[str, bytes]) -> None:
    """Every partition directory on disk is a topic the metadata lists, with its topic id, and
    every listed topic has its directory."""
    on_disk: dict[str, bytes | None] = {}
    for entry in data_dir.iterdir():
        kind, tp = classify(entry.name)
        assert kind is not DirKind.STRAY, f"stray directory {entry.name}"
        if kind is DirKind.PARTITION and tp is not None and tp[0] not in INTERNAL:
            on_disk[tp[0]] = read_partition_metadata(entry)
    assert set(on_disk) == set(ids), (
        f"only on disk: {sorted(set(on_disk) - set(ids))[:5]}, "
        f"only in metadata: {sorted(set(ids) - set(on_disk))[:5]}"
    )
    wrong = [n for n, i in on_disk.items() if i != ids[n]]
    assert not wrong, f"directories of another topic id: {wrong[:5]}"


def check_no_predecessor_records(bootstrap: str, ids: dict[str, bytes]) -> int:
    """Read every topic to its end; every record must carry its topic's id. Returns the count."""
    if not ids:
        return 0
    c = consumer(bootstrap)
    try:
        c.assign([TopicPartition(n, 0, 0) for n in ids])
        pending = set(ids)
        seen = 0
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.topic())
                    continue
                raise AssertionError(f"{msg.topic()}: {err}")
            assert msg.value() == ids[msg.topic()], (
                f"{msg.topic()} (id {ids[msg.topic()].hex()}) served a record of topic id "
                f"{(msg.value() or b'').hex()}"
            )
            seen += 1
        assert not pending, f"no end of partition for {sorted(pending)[:5]}"
        return seen
    finally:
        c.close()


def run_churn(broker_factory: Any, rounds: int, seed: int) -> dict[str, int]:
    print(f"topic churn seed {seed} (BROOK_CHURN_SEED={seed} replays it)")
    rng = random.Random(seed)
    broker = broker_factory()
    data_dir = Path(broker.data_dir)
    ids: dict[str, bytes] = {}
    totals = {"rounds": 0, "ops": 0, "topics_checked": 0, "records_checked": 0}
    for round_no in range(rounds):
        churn = Churn(broker.bootstrap, random.Random(rng.random()), ids)
        worker = threading.Thread(target=churn.run, args=(NAMES if round_no == 0 else None,))
        worker.start()
        if round_no == 0:
            # Let the burst of every name length complete, so that later kills land in
            # deletions (and re-creations) of the longest names too.
            churn.first_done.wait(120)
        time.sleep(rng.uniform(0.5, 4.0))
        broker.kill()
        churn.stop.set()
        worker.join(30)
        assert not worker.is_alive(), "the churn worker did not stop"
        churn.discard()
        broker.start()
        ids = topic_ids(admin(broker.bootstrap))
        check_consistent(data_dir, ids)
        totals["records_checked"] += check_no_predecessor_records(broker.bootstrap, ids)
        totals["rounds"] += 1
        totals["ops"] += churn.ops
        totals["topics_checked"] += len(ids)
    print(f"topic churn totals: {totals}")
    return totals


def _seed() -> int:
    env = os.environ.get("BROOK_CHURN_SEED")
    return int(env) if env else random.SystemRandom().randrange(2**32)


@pytest.mark.timeout(300)
def test_topic_churn_survives_kill9(broker_factory: Any) -> None:
    totals = run_churn(broker_factory, rounds=3, seed=_seed())
    assert totals["rounds"] == 3 and totals["topics_checked"] > 0


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_topic_churn_survives_kill9_long(broker_factory: Any) -> None:
    rounds = int(os.environ.get("BROOK_CHURN_ROUNDS", "25"))
    totals = run_churn(broker_factory, rounds=rounds, seed=_seed())
    assert totals["rounds"] == rounds
