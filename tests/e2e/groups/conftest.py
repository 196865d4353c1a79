"""Consumer-group tests: one broker per module, tuned so rebalances take milliseconds."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_E2E = str(Path(__file__).resolve().parent.parent)
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)


def _root_conftest() -> Any:
    """tests/conftest.py under its own name (a plain ``import conftest`` may find another)."""
    path = Path(__file__).resolve().parents[2] / "conftest.py"
    spec = importlib.util.spec_from_file_location("brook_tests_root_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


BrokerProcess = _root_conftest().BrokerProcess

# No initial delay (one consumer is one rebalance), short sessions allowed, and few offsets
# partitions so the topic is created in a blink.
FAST_GROUPS = {
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}


@pytest.fixture(name="group_broker", scope="module")
def fixture_group_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    d = tmp_path_factory.mktemp("group-broker") / "data"
    d.mkdir()
    b = BrokerProcess(d, overrides=dict(FAST_GROUPS))
    b.start()
    yield b
    code = b.stop()
    assert code == 0, f"broker exited with {code}:\n{b.output()[-3000:]}"


@pytest.fixture(name="gbootstrap", scope="module")
def fixture_gbootstrap(group_broker: Any) -> str:
    return group_broker.bootstrap
