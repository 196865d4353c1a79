"""The Java producer's and consumer's calls beyond send and poll, against brook, with the
answers Apache Kafka 4.3.1 gives to the same program (``tests/java/programs/JClientApis``):
acks=0 and acks=1, a record too large for the broker, LogAppendTime, partitionsFor and
listTopics, beginning/end offsets, offsetsForTimes, seek and position, pause and resume,
commitSync/commitAsync and committed, and the reset of a committed offset DeleteRecords
removed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.brokers import BrokerProcess
from tests.support.java_programs import run_json
from tests.support.kafka_reference import KafkaBroker

pytestmark = pytest.mark.timeout(240)

OK = "ok"
EXPECTED: dict[str, Any] = {
    "produce.acks1": (OK, [0, 4]),
    "produce.acks0": (OK, [0, -1, False]),  # acks=0: no offset comes back
    "produce.tooLarge": "RecordTooLargeException",
    "produce.afterTooLarge": (OK, [1, 3]),  # the refused batch took no offsets
    "produce.logAppendTime": (OK, [0, True, True]),
    "consume.logAppendTime": (OK, ["LogAppendTime", True]),
    "partitionsFor": (OK, [[0, 1, 1], [1, 1, 1]]),
    "partitionsFor.unknown": (OK, 1),
    "listTopics.later": (OK, ["{p}-apis", "{p}-append-time", "{p}-missing"]),
    "beginningOffsets": (OK, {"p0": 0, "p1": 0}),
    "endOffsets": (OK, {"p0": 10, "p1": 4}),
    "offsetsForTimes": (OK, [7, 1007, "null"]),
    "committed.none": (OK, "null"),
    "seek.position": (OK, 7),
    "poll.fromSeek": (OK, [7, 8, 9]),
    "currentLag": (OK, "OptionalLong[0]"),
    "pause.resume": (OK, [0, [0, 1, 2, 3]]),
    "commitSync.committed": (OK, [4, "meta", False]),
    "commitAsync": (OK, 2),
    "consume.readCommittedFetchLimitsBelowARecord": (OK, [[0, 1, 2], True, 3]),
    "deleteRecords.thenResetFromCommitted": (OK, [8, 9]),
}
"""Each step: ``(OK, result)`` or the class of the exception it fails with."""

DIFFERENCES = {
    "partitionsFor.unknown": "brook creates a topic on a Metadata request at once and answers "
                             "with it; Kafka creates it in the background and first answers "
                             "UNKNOWN_TOPIC_OR_PARTITION, so the consumer sees no partitions",
}


def _answers(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {line["step"]: (OK, line["result"]) if line["ok"] else line["error"]
            for line in lines}


def _expected(prefix: str) -> dict[str, Any]:
    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("{p}", prefix)
        if isinstance(v, (list, tuple)):
            return type(v)(fill(x) for x in v)
        return v
    return {k: fill(v) for k, v in EXPECTED.items()}


def test_producer_and_consumer_calls_answer_as_kafka(broker: BrokerProcess) -> None:
    lines = run_json("JClientApis", broker.bootstrap, "japis")
    assert _answers(lines) == _expected("japis")
    assert not [(line["step"], line["ms"]) for line in lines if line["ms"] > 15_000]


@pytest.mark.slow
def test_kafka_answers_the_client_calls_as_expected(tmp_path: Path) -> None:
    kafka = KafkaBroker(tmp_path / "kafka" / "data")
    kafka.data_dir.mkdir(parents=True)
    kafka.start()
    try:
        answers = _answers(run_json("JClientApis", kafka.bootstrap, "ref"))
    finally:
        kafka.stop()
    expected = _expected("ref")
    for step in DIFFERENCES:
        assert answers.pop(step) != expected.pop(step), f"{step}: Kafka now agrees with brook"
    assert answers == expected
