"""Every generated class at every valid version: decode(encode(x)) == x, and bytes are stable."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brook.protocol._codec import Message
from tests.support.protocol import message_strategy, top_level_classes, versions

CLASSES = top_level_classes()

_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_every_schema_was_generated() -> None:
    # 84 APIs x (request, response), 2 headers, and the record/data schemas.
    assert len(CLASSES) == 236


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
@_SETTINGS
@given(data=st.data())
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    for version in versions(cls):
        obj = data.draw(message_strategy(cls, version), label=f"v{version}")
        chunks = obj.encode(version)
        encoded = b"".join(chunks)
        decoded, pos = cls.decode(memoryview(encoded), 0, version)
        assert pos == len(encoded)
        assert decoded == obj, f"v{version}"
        assert decoded.to_bytes(version) == encoded, f"v{version}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_default_instance_round_trips(cls: type[Message]) -> None:
    for version in versions(cls):
        encoded = cls().to_bytes(version)
        decoded, pos = cls.decode(memoryview(encoded), 0, version)
        assert pos == len(encoded)
        assert decoded.to_bytes(version) == encoded


def test_decode_at_offset_and_from_bytes() -> None:
    from brook.protocol.messages.api_versions import ApiVersionsResponse as R

    obj = R(0, [R.ApiVersion(0, 0, 11), R.ApiVersion(18, 0, 4)], 0)
    encoded = obj.to_bytes(3)
    decoded, pos = R.decode(b"junk" + encoded + b"tail", 4, 3)  # type: ignore[arg-type]
    assert decoded == obj
    assert pos == 4 + len(encoded)
