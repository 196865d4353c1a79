"""What a broker makes of the values under the cluster's etcd prefix, whatever was written there."""

from __future__ import annotations

import pytest

from brook.broker.cluster import controller_node, parse_registration


def test_a_candidates_value_names_its_node() -> None:
    assert controller_node(b'{"node_id": 3, "incarnation": "ab"}') == 3


@pytest.mark.parametrize("value", [b"", b"garbage", b"[]", b"{}", b'{"node_id": "3"}',
                                   b'{"node_id": -5}', b'{"node_id": true}', b"\xff\xfe"])
def test_a_forged_value_means_no_known_controller(value: bytes) -> None:
    assert controller_node(value) == -1


def test_a_brokers_own_registration_parses() -> None:
    inc, eps, rack = parse_registration(
        b'{"endpoints": [["PLAINTEXT", "127.0.0.1", 9092, 0]], "incarnation": "%s", "rack": "az1"}'
        % (b"ab" * 16))
    assert inc == bytes([0xAB]) * 16 and rack == "az1"
    assert [(e.name, e.host, e.port, e.security_protocol) for e in eps] == [
        ("PLAINTEXT", "127.0.0.1", 9092, 0)]


_INC = "ab" * 16


@pytest.mark.parametrize("value", [
    b"garbage", b"[]", b'{"incarnation": "zz"}',
    # A port or protocol no RegisterBrokerRecord can carry would fail every controller's term.
    b'{"endpoints": [["P", "h", 70000, 0]], "incarnation": "%s"}' % _INC.encode(),
    b'{"endpoints": [["P", "h", 9092, 99]], "incarnation": "%s"}' % _INC.encode(),
    b'{"endpoints": [["P", "h", "9092", 0]], "incarnation": "%s"}' % _INC.encode(),
    b'{"endpoints": [["P", "h", 9092, 0]], "incarnation": "abcd"}',
    b'{"endpoints": [["P", "h", 9092]], "incarnation": "%s"}' % _INC.encode(),
    b'{"endpoints": [], "incarnation": "%s"}' % _INC.encode(),
    b'{"endpoints": [["P", "h", 9092, 0]], "incarnation": "%s", "rack": 5}' % _INC.encode(),
])
def test_a_forged_registration_is_refused_before_it_reaches_the_controller(value: bytes) -> None:
    with pytest.raises(ValueError):
        parse_registration(value)
