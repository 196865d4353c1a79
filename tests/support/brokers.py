"""The one broker process harness and the one ``free_port`` for tests.

Both live in :mod:`brook.testing.process`, which the kill loop uses too; here the harness runs
the product's own ``brook broker`` (no warp clock) from the repository root.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from brook.testing.etcd import etcd_fixture
from brook.testing.process import BrokerProcess, free_port

__all__ = ["REPO", "BrokerProcess", "etcd_cluster", "free_port", "plain_broker"]

REPO = Path(__file__).resolve().parents[2]


TEST_DEFAULTS = {"group.initial.rebalance.delay.ms": "0"}
"""Settings every test broker starts with unless the test names them itself. As in Kafka's own
integration harness, a new group's first rebalance does not wait for more members: the tests
wait on the condition they check, and each fresh group (every Connect worker's, every sink
task's, every console consumer's) would otherwise cost three seconds. The tests of the delay
set it explicitly."""


def plain_broker(data_dir: Path, **options: Any) -> BrokerProcess:
    """A restartable ``brook broker`` child on a free loopback port (``options`` as for
    :class:`~brook.testing.process.BrokerProcess`: overrides, advertised_port, prefix...);
    :data:`TEST_DEFAULTS` apply where ``overrides`` does not say otherwise."""
    options["overrides"] = {**TEST_DEFAULTS, **(options.get("overrides") or {})}
    options.setdefault("warp_clock", False)
    options.setdefault("cwd", REPO)
    return BrokerProcess(data_dir, **options)


@contextlib.contextmanager
def etcd_cluster(tmp_path: Path, cluster_id: str, overrides: dict[str, str] | None = None,
                 nodes: tuple[int, ...] = (1, 2, 3)) -> Iterator[list[BrokerProcess]]:
    """A real etcd and one broker per node id sharing their metadata in it, started in order;
    every process is killed on the way out (a paused one is continued first, so it dies)."""
    etcd = etcd_fixture(tmp_path)
    brokers: list[BrokerProcess] = []
    try:
        for node_id in nodes:
            b = plain_broker(
                tmp_path / f"b{node_id}" / "data", node_id=node_id, log_level="INFO",
                overrides={"metadata.store": f"etcd://{etcd.endpoint}", "cluster.id": cluster_id,
                           **(overrides or {})})
            b.start()
            brokers.append(b)
        yield brokers
    finally:
        for b in brokers:
            if b.proc is not None and b.proc.poll() is None:
                os.kill(b.proc.pid, signal.SIGCONT)
            b.kill()
        etcd.stop()

