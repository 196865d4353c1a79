"""``meta.properties`` of a cluster broker: it names the cluster and the node whose data the
directory holds, and a broker refuses another cluster's or another node's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.broker.config import ConfigError
from brook.broker.node import _cluster_id


def test_a_cluster_broker_refuses_another_nodes_data_dir(tmp_path: Path) -> None:
    assert _cluster_id(tmp_path, "c1", clustered=True, node_id=1) == "c1"
    assert _cluster_id(tmp_path, "c1", clustered=True, node_id=1) == "c1"
    with pytest.raises(ConfigError, match=r"node\.id=1"):
        _cluster_id(tmp_path, "c1", clustered=True, node_id=2)


def test_a_directory_without_a_node_id_is_claimed_by_the_first_cluster_broker(tmp_path: Path) -> None:
    (tmp_path / "meta.properties").write_text("version=1\ncluster.id=c1\n")
    assert _cluster_id(tmp_path, "c1", clustered=True, node_id=3) == "c1"
    with pytest.raises(ConfigError, match=r"node\.id=3"):
        _cluster_id(tmp_path, "c1", clustered=True, node_id=4)


def test_a_cluster_broker_refuses_another_clusters_data_dir(tmp_path: Path) -> None:
    _cluster_id(tmp_path, "c1", clustered=True, node_id=1)
    with pytest.raises(ConfigError, match="belongs to cluster c1"):
        _cluster_id(tmp_path, "c2", clustered=True, node_id=1)


def test_a_single_node_directory_is_unchanged(tmp_path: Path) -> None:
    cid = _cluster_id(tmp_path, None)
    assert "node.id" not in (tmp_path / "meta.properties").read_text()
    assert _cluster_id(tmp_path, None) == cid
