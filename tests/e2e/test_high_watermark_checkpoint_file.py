"""A broker's ``replication-offset-checkpoint`` across restarts: written at clean shutdown
with every partition's high watermark, and a file that does not parse stops start-up with a
message naming it (exit 1), instead of a traceback or a high watermark guessed as 0."""

from __future__ import annotations

from typing import Any

import pytest

from brook.storage.checkpoint import OffsetCheckpointFile
from tests.support.ck import Rec, create_topic, produce


def test_a_corrupt_high_watermark_checkpoint_stops_the_broker_naming_it(
    broker_factory: Any,
) -> None:
    broker = broker_factory()
    name = "hw-file"
    create_topic(broker.bootstrap, name)
    produce(broker.bootstrap, name, [Rec(value=b"%d" % i) for i in range(7)])
    broker.stop()
    checkpoint = broker.data_dir / "replication-offset-checkpoint"
    assert OffsetCheckpointFile(checkpoint).read()[(name, 0)] == 7

    checkpoint.write_text(f"0\n1\n{name} 0 seven\n")
    with pytest.raises(RuntimeError) as failed:
        broker.start()
    message = str(failed.value)
    assert "exited with 1" in message
    assert "malformed checkpoint file" in message and str(checkpoint) in message
    assert "Traceback" not in message
