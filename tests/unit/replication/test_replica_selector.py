"""The built-in replica selectors of KIP-392 and the configuration that names them.

``replica.selector.class`` chooses from a fixed table by Kafka's class names; any other name
is refused when the broker's configuration is read, and nothing is ever imported by name."""

from __future__ import annotations

import pytest

from brook.broker.config import BrokerConfig, ConfigError
from brook.replication.replica_selector import (
    LEADER_SELECTOR,
    RACK_AWARE_SELECTOR,
    LeaderSelector,
    RackAwareReplicaSelector,
    ReplicaView,
    replica_selector,
)

LEADER = ReplicaView(1, "az1", 100, 0)
F2 = ReplicaView(2, "az2", 100, 50)
F3 = ReplicaView(3, "az2", 100, 10)
F4 = ReplicaView(4, "az3", 90, 0)


def test_rack_aware_picks_the_most_caught_up_replica_in_the_clients_rack() -> None:
    s = RackAwareReplicaSelector()
    everyone = [LEADER, F2, F3, F4]
    assert s.select("az2", LEADER, everyone) == F3  # same log end: caught up more recently
    assert s.select("az3", LEADER, everyone) == F4
    assert s.select("az2", LEADER, [LEADER, F2, ReplicaView(5, "az2", 101, 900)]).broker_id == 5
    tie = [LEADER, ReplicaView(2, "az2", 100, 5), ReplicaView(3, "az2", 100, 5)]
    assert s.select("az2", LEADER, tie).broker_id == 3  # then the larger broker id, as Kafka


def test_rack_aware_keeps_the_leader_without_a_better_answer() -> None:
    s = RackAwareReplicaSelector()
    assert s.select("", LEADER, [LEADER, F2]) == LEADER  # the client names no rack
    assert s.select("az9", LEADER, [LEADER, F2]) == LEADER  # nobody in its rack
    leader_in_az2 = ReplicaView(1, "az2", 100, 0)
    assert s.select("az2", leader_in_az2, [leader_in_az2, F2, F3]) == leader_in_az2


def test_leader_selector_always_answers_the_leader() -> None:
    assert LeaderSelector().select("az2", LEADER, [LEADER, F2, F3]) == LEADER


def test_the_configuration_names_built_in_selectors_only() -> None:
    assert replica_selector({}) is None
    assert replica_selector({"replica.selector.class": " "}) is None
    assert isinstance(replica_selector({"replica.selector.class": RACK_AWARE_SELECTOR}),
                      RackAwareReplicaSelector)
    assert isinstance(replica_selector({"replica.selector.class": LEADER_SELECTOR}),
                      LeaderSelector)
    with pytest.raises(ValueError, match="must be one of"):
        replica_selector({"replica.selector.class": "os.system"})


def test_the_broker_refuses_an_unknown_selector_at_start_up() -> None:
    base = {"node.id": "1", "listeners": "PLAINTEXT://127.0.0.1:9092"}
    assert BrokerConfig.from_props({**base, "replica.selector.class": RACK_AWARE_SELECTOR})
    assert BrokerConfig.from_props({**base, "replica.selector.class": ""})
    with pytest.raises(ConfigError, match=r"replica\.selector\.class"):
        BrokerConfig.from_props({**base, "replica.selector.class": "com.example.Evil"})
