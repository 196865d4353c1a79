"""What a broker reads from the cluster's controller key, whatever was written there."""

from __future__ import annotations

import pytest

from brook.broker.cluster import controller_node


def test_a_candidates_value_names_its_node() -> None:
    assert controller_node(b'{"node_id": 3, "incarnation": "ab"}') == 3


@pytest.mark.parametrize("value", [b"", b"garbage", b"[]", b"{}", b'{"node_id": "3"}',
                                   b'{"node_id": -5}', b'{"node_id": true}', b"\xff\xfe"])
def test_a_forged_value_means_no_known_controller(value: bytes) -> None:
    assert controller_node(value) == -1
