"""A second broker started on a data directory in use refuses to start, before touching a
file, and the first goes on serving every acknowledged record; once the first is killed with
-9 the directory is free again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.brokers import plain_broker
from tests.support.ck import Rec, consume, create_topic, produce

pytestmark = pytest.mark.timeout(120)


def test_a_second_broker_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    first = plain_broker(tmp_path / "data")
    first.start()
    second = plain_broker(tmp_path / "data")  # same directory, its own port
    try:
        create_topic(first.bootstrap, "locked")
        produce(first.bootstrap, "locked", [Rec(b"%d" % i) for i in range(100)], acks="all")
        with pytest.raises(RuntimeError, match="exited with 1"):
            second.start(timeout=30)
        assert "is in use by another broker process" in second.output()
        produce(first.bootstrap, "locked", [Rec(b"%d" % i) for i in range(100, 200)], acks="all")
        values = [m.value() for m in consume(first.bootstrap, "locked", count=200)]
        assert values == [b"%d" % i for i in range(200)]
        first.kill()
        second.start(timeout=30)  # the lock died with its holder
        values = [m.value() for m in consume(second.bootstrap, "locked", count=200)]
        assert values == [b"%d" % i for i in range(200)]
    finally:
        second.stop()
        first.stop()
