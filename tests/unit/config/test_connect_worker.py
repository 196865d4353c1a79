"""The Connect worker's key definitions are well-formed broker-style definitions."""

from __future__ import annotations

import pytest

from brook.config.connect_worker import WORKER_KEYS
from brook.config.defs import ConfigKey


@pytest.mark.parametrize("name", list(WORKER_KEYS))
def test_default_round_trips_and_is_valid(name: str) -> None:
    key = WORKER_KEYS[name]
    assert isinstance(key, ConfigKey) and key.documentation
    if key.default_text is not None:
        assert key.parse(key.default_text) == key.default


def test_range_reason_is_worded_as_connects() -> None:
    with pytest.raises(ValueError, match="Value must be at least 1"):
        WORKER_KEYS["heartbeat.interval.ms"].parse("0")
    assert WORKER_KEYS.get_int({}, "rest.port") == 8083
