"""Kafka's own scripts run the same way against brook and against Apache Kafka.

A test names a script and its arguments once, with ``{bs}`` where the bootstrap address goes;
:meth:`ScriptPair.both` runs it against the brook broker and the reference Kafka broker (the
two JVMs at once: each waits mostly on its broker) and returns both results, for the test to
compare after normalising what legitimately differs (topic ids, hosts, ports, sizes).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.brokers import BrokerProcess
from tests.support.java import kafka_script
from tests.support.kafka_reference import KafkaBroker

__all__ = ["ScriptPair", "fixture_kafka", "fixture_scripts", "normalise"]

Result = subprocess.CompletedProcess[str]


@dataclass
class ScriptPair:
    """The brook broker and the reference Kafka broker of one test module."""

    brook: BrokerProcess
    kafka: KafkaBroker

    def run(self, target: str, script: str, *args: str, **options: object) -> Result:
        """Run ``script`` against ``target`` ("brook" or "kafka"), ``{bs}`` in args filled in."""
        bs = self.brook.bootstrap if target == "brook" else self.kafka.bootstrap
        options.setdefault("check", False)
        return kafka_script(script, *(a.replace("{bs}", bs) for a in args), **options)

    def both(self, script: str, *args: str, **options: object) -> tuple[Result, Result]:
        """(brook's result, Kafka's result) of the same command."""
        with ThreadPoolExecutor(2) as pool:
            b = pool.submit(self.run, "brook", script, *args, **options)
            k = pool.submit(self.run, "kafka", script, *args, **options)
            return b.result(), k.result()

    def same(self, script: str, *args: str, **options: object) -> str:
        """Run on both, require success and identical output (after :func:`normalise`)."""
        b, k = self.both(script, *args, **options)
        assert b.returncode == 0, f"brook: {b.stdout}\n{b.stderr[-3000:]}"
        assert k.returncode == 0, f"kafka: {k.stdout}\n{k.stderr[-3000:]}"
        brook, kafka = normalise(b.stdout, self), normalise(k.stdout, self)
        assert brook == kafka, f"--- brook\n{brook}\n--- kafka\n{kafka}"
        return b.stdout


def normalise(text: str, pair: ScriptPair | None = None) -> str:
    """What legitimately differs between two brokers: their addresses and topic ids."""
    if pair is not None:
        text = text.replace(pair.brook.bootstrap, "HOST:PORT")
        text = text.replace(pair.kafka.bootstrap, "HOST:PORT")
    return re.sub(r"TopicId: [A-Za-z0-9_-]{22}", "TopicId: ID", text)


@pytest.fixture(name="kafka", scope="module")
def fixture_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real Apache Kafka broker for the module: the reference its answers are held to."""
    data: Path = tmp_path_factory.mktemp("kafka") / "data"
    data.mkdir()
    kafka = KafkaBroker(data, heap="384m")
    kafka.start()
    yield kafka
    assert kafka.stop() in (0, 143), kafka.output()[-3000:]


@pytest.fixture(name="scripts", scope="module")
def fixture_scripts(broker: BrokerProcess, kafka: KafkaBroker) -> ScriptPair:
    return ScriptPair(broker, kafka)
