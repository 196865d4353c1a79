"""Consumer-group tests: one broker per module, tuned so rebalances take milliseconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.brokers import BrokerProcess, plain_broker

# No initial delay (one consumer is one rebalance), short sessions allowed, and few offsets
# partitions so the topic is created in a blink.
FAST_GROUPS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}


@pytest.fixture(name="group_broker", scope="module")
def fixture_group_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    d = tmp_path_factory.mktemp("group-broker") / "data"
    d.mkdir()
    b = plain_broker(d, overrides=dict(FAST_GROUPS))
    b.start()
    yield b
    code = b.stop()
    assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"


@pytest.fixture(name="gbootstrap", scope="module")
def fixture_gbootstrap(group_broker: BrokerProcess) -> str:
    return group_broker.bootstrap
