"""kafka-consumer-groups.sh against brook and Apache Kafka: the same tables.

A group with a live console consumer is described (offsets, ``--members [--verbose]``,
``--state``), then, once it is empty, its offsets are reset every way the tool offers
(dry run and execute), deleted per partition and the group deleted. What legitimately
differs is normalised: the coordinator's address and the member id the coordinator makes up
(``<client id>-<uuid>``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.support.java import JavaProcess
from tests.support.kafka_scripts import ScriptPair, fixture_kafka, fixture_scripts, normalise

__all__ = ["fixture_kafka", "fixture_scripts"]

GROUPS = "kafka-consumer-groups.sh"
TOPIC = "orders"
RECORDS = "".join(f"k{i}:order {i}\n" for i in range(20))


def _norm(text: str, scripts: ScriptPair) -> str:
    text = normalise(text, scripts)
    return re.sub(r"console-consumer-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "MEMBER", text)


def _same(scripts: ScriptPair, *args: str) -> str:
    b, k = scripts.both(GROUPS, "--bootstrap-server", "{bs}", *args)
    assert b.returncode == 0, b.stdout + b.stderr[-3000:]
    assert k.returncode == 0, k.stdout + k.stderr[-3000:]
    brook, kafka = _norm(b.stdout, scripts), _norm(k.stdout, scripts)
    assert brook == kafka
    return brook


@pytest.fixture(name="orders", scope="module")
def fixture_orders(scripts: ScriptPair) -> ScriptPair:
    """``orders`` (2 partitions, 20 keyed records) on both, read once by the group ``live``."""
    scripts.same("kafka-topics.sh", "--bootstrap-server", "{bs}", "--create", "--topic", TOPIC,
                 "--partitions", "2")
    b, k = scripts.both("kafka-console-producer.sh", "--bootstrap-server", "{bs}", "--topic",
                        TOPIC, "--property", "parse.key=true", "--property", "key.separator=:",
                        input=RECORDS)
    assert b.returncode == k.returncode == 0, b.stderr + k.stderr
    b, k = scripts.both("kafka-console-consumer.sh", "--bootstrap-server", "{bs}", "--topic",
                        TOPIC, "--group", "live", "--from-beginning", "--max-messages", "20")
    assert b.returncode == k.returncode == 0, b.stderr[-2000:] + k.stderr[-2000:]
    return scripts


def _consumer(bootstrap: str) -> JavaProcess:
    return JavaProcess("org.apache.kafka.tools.consumer.ConsoleConsumer", (
        "--bootstrap-server", bootstrap, "--topic", TOPIC, "--group", "live"), heap="256m")


@pytest.fixture(name="live")
def fixture_live(orders: ScriptPair) -> Iterator[ScriptPair]:
    """A console consumer in ``live`` on each broker, until both groups are Stable."""
    consumers = [_consumer(orders.brook.bootstrap), _consumer(orders.kafka.bootstrap)]
    try:
        for c in consumers:
            c.start("consumer rebalance protocol", timeout=60)
        deadline = time.monotonic() + 90
        while True:
            b, k = orders.both(GROUPS, "--bootstrap-server", "{bs}", "--describe", "--group",
                               "live", "--state")
            if all(re.search(r"Stable\s+1\s*$", r.stdout, re.M) for r in (b, k)):
                break
            assert time.monotonic() < deadline, b.stdout + k.stdout
            time.sleep(1)
        yield orders
    finally:
        for c in consumers:
            c.stop()


def test_describe_a_group_with_a_live_member(live: ScriptPair) -> None:
    offsets = _same(live, "--describe", "--group", "live")
    rows = [line.split() for line in offsets.splitlines() if line.startswith("live ")]
    assert [r[2] for r in rows] == ["0", "1"]
    assert all(r[:2] == ["live", TOPIC] and r[3] == r[4] and r[5] == "0" for r in rows)  # lag 0
    assert sum(int(r[3]) for r in rows) == 20
    assert {r[6] for r in rows} == {"MEMBER"}
    assert {r[7] for r in rows} == {"/127.0.0.1"}
    assert {r[8] for r in rows} == {"console-consumer"}

    members = _same(live, "--describe", "--group", "live", "--members")
    assert members.splitlines()[-1].split() == [
        "live", "MEMBER", "/127.0.0.1", "console-consumer", "2"]
    verbose = _same(live, "--describe", "--group", "live", "--members", "--verbose")
    assert f"{TOPIC}:0,1" in verbose, verbose
    state = _same(live, "--describe", "--group", "live", "--state")
    assert state.splitlines()[-1].split() == [
        "live", "HOST:PORT", "(1)", "range", "Stable", "1"]
    _same(live, "--describe", "--group", "live", "--offsets", "--verbose")
    listed = _same(live, "--list", "--state")
    assert re.search(r"^live\s+Stable\s*$", listed, re.M), listed
    # Offsets of a group with members cannot be reset: both refuse.
    b, k = live.both(GROUPS, "--bootstrap-server", "{bs}", "--reset-offsets", "--group",
                     "live", "--topic", TOPIC, "--to-earliest", "--execute")
    assert _norm(b.stdout, live) == _norm(k.stdout, live)
    assert "Assignments can only be reset if the group 'live' is inactive" in b.stdout


@pytest.mark.parametrize("how", [
    ("--to-earliest", "--dry-run"),
    ("--shift-by", "-2", "--execute"),
    ("--to-datetime", "2020-01-01T00:00:00.000", "--dry-run"),
    # The same path with other specs: with the slow tests, to keep `make test` short.
    pytest.param(("--to-offset", "3", "--execute"), marks=pytest.mark.slow),
    pytest.param(("--to-datetime", "2999-01-01T00:00:00.000", "--execute"),
                 marks=pytest.mark.slow),
    pytest.param(("--to-latest", "--execute"), marks=pytest.mark.slow),
])
def test_reset_offsets_of_an_empty_group(orders: ScriptPair, how: tuple[str, ...]) -> None:
    out = _same(orders, "--reset-offsets", "--group", "live", "--topic", TOPIC, *how)
    assert ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"] in [x.split() for x in out.splitlines()]
    planned = {r[2]: r[3] for r in (line.split() for line in out.splitlines())
               if r[:2] == ["live", TOPIC]}
    assert sorted(planned) == ["0", "1"]
    if "--execute" in how:  # what was executed is what the group now has
        after = _same(orders, "--describe", "--group", "live")
        current = {r[2]: r[3] for r in (line.split() for line in after.splitlines())
                   if r[:2] == ["live", TOPIC]}
        assert current == planned


@pytest.mark.slow
def test_list_delete_offsets_and_delete_groups(orders: ScriptPair) -> None:
    b, k = orders.both("kafka-console-consumer.sh", "--bootstrap-server", "{bs}", "--topic",
                       TOPIC, "--group", "doomed", "--from-beginning", "--max-messages", "20")
    assert b.returncode == k.returncode == 0
    listed = _same(orders, "--list")
    assert {"live", "doomed"} <= set(listed.split())
    listed = _same(orders, "--list", "--state", "Empty")
    assert re.search(r"^doomed\s+Empty\s*$", listed, re.M), listed
    out = _same(orders, "--delete-offsets", "--group", "doomed", "--topic", f"{TOPIC}:1")
    assert out.splitlines()[0] == "Request succeeded for deleting offsets from group doomed."
    assert out.splitlines()[-1].split() == [TOPIC, "1", "Successful"]
    described = _same(orders, "--describe", "--group", "doomed")
    assert [line.split()[2] for line in described.splitlines()
            if line.startswith("doomed ")] == ["0"]
    out = _same(orders, "--delete", "--group", "doomed")
    assert out.strip() == "Deletion of requested consumer groups ('doomed') was successful."
    out = _same(orders, "--delete", "--group", "doomed")
    assert "GroupIdNotFoundException: The group id does not exist." in out


@pytest.mark.slow
def test_describe_an_unknown_group(scripts: ScriptPair) -> None:
    """A difference of protocol version, not of behaviour: Kafka 4 answers DescribeGroups v6
    (KIP-1043) with GROUP_ID_NOT_FOUND, which the tool reports as an exception; brook serves up
    to v5 (the newest its protocol schemas define), where an unknown group is described as
    Dead, which the tool reports as "does not exist". Both exit 0 and say the group is absent."""
    b, k = scripts.both(GROUPS, "--bootstrap-server", "{bs}", "--describe", "--group", "nosuch")
    assert b.returncode == k.returncode == 0
    assert "Error: Consumer group 'nosuch' does not exist." in b.stdout + b.stderr
    assert "GroupIdNotFoundException: Group nosuch not found." in k.stdout + k.stderr
