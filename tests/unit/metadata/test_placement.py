"""Rack-aware replica placement: replicas spread over racks (availability zones) before any
rack holds two, leaders balanced over brokers, as Kafka's rack-aware assignment does."""

from __future__ import annotations

from collections import Counter

import pytest

from brook.metadata.controller.replication_control import ControllerError, place_replicas
from brook.metadata.delta import MetadataDelta
from brook.metadata.image import EMPTY_IMAGE, MetadataImage
from brook.protocol.metadata_records.register_broker_record import RegisterBrokerRecord


def _image(racks: dict[int, str]) -> MetadataImage:
    delta = MetadataDelta(EMPTY_IMAGE)
    for offset, (broker_id, rack) in enumerate(sorted(racks.items())):
        delta.replay(RegisterBrokerRecord(broker_id=broker_id, broker_epoch=1, rack=rack,
                                          fenced=False), offset)
    return delta.apply()


@pytest.mark.parametrize("start", [0, 1, 2, 5])
def test_two_azs_of_two_brokers_put_both_replicas_in_different_azs(start: int) -> None:
    racks = {1: "use1-az1", 2: "use1-az1", 3: "use1-az2", 4: "use1-az2"}
    assignment = place_replicas(_image(racks), 8, 2, start)
    for replicas in assignment:
        assert len(set(replicas)) == 2
        assert {racks[r] for r in replicas} == {"use1-az1", "use1-az2"}
    assert Counter(r[0] for r in assignment) == {1: 2, 2: 2, 3: 2, 4: 2}


def test_uneven_racks_still_cover_both_and_rf_three_uses_every_broker() -> None:
    racks = {1: "a", 2: "b", 3: "a"}
    for replicas in place_replicas(_image(racks), 6, 2, 0):
        assert {racks[r] for r in replicas} == {"a", "b"}
    for replicas in place_replicas(_image(racks), 6, 3, 1):
        assert sorted(replicas) == [1, 2, 3]


def test_more_replicas_than_brokers_is_invalid_replication_factor() -> None:
    with pytest.raises(ControllerError) as err:
        place_replicas(_image({1: "a", 2: "b"}), 1, 3, 0)
    assert err.value.code.name == "INVALID_REPLICATION_FACTOR"


def test_without_racks_followers_rotate_over_every_broker() -> None:
    assignment = place_replicas(_image({1: "", 2: "", 3: ""}), 6, 2, 0)
    assert Counter(r[0] for r in assignment) == {1: 2, 2: 2, 3: 2}
    assert len({tuple(r) for r in assignment}) == 6
