"""The Java consumer with ``client.rack`` reads a replicated topic from the follower in its rack
(KIP-392), on the cluster of ``tests/e2e/cluster/test_fetch_from_follower.py``: three brokers
in two racks behind proxies that count each broker's bytes to clients."""

from __future__ import annotations

import pytest

from tests.e2e.cluster.test_fetch_from_follower import (
    RECORDS,
    Cluster,
    check_served_by_follower,
    fixture_cluster,
    fixture_etcd,
    place,
    value,
)
from tests.support.java_programs import run_json

__all__ = ["fixture_cluster", "fixture_etcd"]

pytestmark = pytest.mark.timeout(240)


def test_the_java_consumer_reads_from_the_follower_in_its_rack(cluster: Cluster) -> None:
    placed = place(cluster, "closest-java")
    bootstrap = ",".join(proxy.address for _, proxy in cluster.values())
    lines = run_json("JConsume", bootstrap, placed.topic, str(RECORDS), "60000",
                     f"client.rack={placed.rack}", "metadata.max.age.ms=60000")
    records = [line for line in lines if "offset" in line]
    assert [r["offset"] for r in records] == list(range(RECORDS))
    assert all(r["value"] == value(i).decode() for i, r in enumerate(records))
    check_served_by_follower(cluster, placed)
