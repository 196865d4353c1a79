"""Byte-for-byte comparison with kafka-python 3.0.12's independent encoder and decoder.

Messages are drawn from the same ``_FIELDS`` strategies as the round-trip tests, converted
field by field into kafka-python objects, and both sides must produce identical bytes; each
side must then decode the other's bytes back to the same message. Versions compared are those
both schema sets define (kafka-python ships the Kafka 4.x schemas, which dropped old versions).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brook.protocol._codec import Message
from brook.protocol.messages import REQUESTS, RESPONSES
from tests.support.protocol import in_range, message_strategy

kafka_protocol = pytest.importorskip("kafka.protocol.api_message")

from kafka.protocol.admin import configs as kp_configs  # noqa: E402
from kafka.protocol.admin import topics as kp_topics  # noqa: E402
from kafka.protocol.consumer import fetch as kp_fetch  # noqa: E402
from kafka.protocol.consumer import group as kp_group  # noqa: E402
from kafka.protocol.consumer import offsets as kp_offsets  # noqa: E402
from kafka.protocol.metadata import api_versions as kp_api_versions  # noqa: E402
from kafka.protocol.metadata import find_coordinator as kp_find_coordinator  # noqa: E402
from kafka.protocol.metadata import metadata as kp_metadata  # noqa: E402
from kafka.protocol.producer import produce as kp_produce  # noqa: E402
from kafka.protocol.producer import transaction as kp_transaction  # noqa: E402

# (brook api key, kafka-python module holding "<Name>Request"/"<Name>Response")
CASES: list[tuple[int, Any, str]] = [
    (18, kp_api_versions, "ApiVersions"),
    (3, kp_metadata, "Metadata"),
    (0, kp_produce, "Produce"),
    (1, kp_fetch, "Fetch"),
    (2, kp_offsets, "ListOffsets"),
    (23, kp_offsets, "OffsetForLeaderEpoch"),
    (19, kp_topics, "CreateTopics"),
    (20, kp_topics, "DeleteTopics"),
    (37, kp_topics, "CreatePartitions"),
    (8, kp_group, "OffsetCommit"),
    (9, kp_group, "OffsetFetch"),
    (10, kp_find_coordinator, "FindCoordinator"),
    (11, kp_group, "JoinGroup"),
    (12, kp_group, "Heartbeat"),
    (13, kp_group, "LeaveGroup"),
    (14, kp_group, "SyncGroup"),
    (32, kp_configs, "DescribeConfigs"),
    (44, kp_configs, "IncrementalAlterConfigs"),
    (22, kp_transaction, "InitProducerId"),
    (24, kp_transaction, "AddPartitionsToTxn"),
    (26, kp_transaction, "EndTxn"),
]

PAIRS = [
    (ours, getattr(module, f"{name}{kind}"))
    for key, module, name in CASES
    for ours, kind in ((REQUESTS[key], "Request"), (RESPONSES[key], "Response"))
]


# kafka-python turns the authorized-operations bitfields into sets of its own enum type; those
# two fields are left at their default ("not requested") on both sides.
SKIPPED = {
    ("MetadataResponse", "cluster_authorized_operations"),
    ("MetadataResponse.MetadataResponseTopic", "topic_authorized_operations"),
}
RENAMES: dict[tuple[str, str], str] = {}


def _compared(cls: type[Message], name: str) -> bool:
    return (cls.__qualname__, name) not in SKIPPED


def _reset_skipped(obj: Any) -> Any:
    if isinstance(obj, list):
        for item in obj:
            _reset_skipped(item)
    elif isinstance(obj, Message):
        for spec in type(obj)._FIELDS:
            if not _compared(type(obj), spec.name):
                setattr(obj, spec.name, spec.default)
            elif spec.struct is not None:
                _reset_skipped(getattr(obj, spec.name))
    return obj


def _their_name(cls: type[Message], name: str) -> str:
    return RENAMES.get((cls.__qualname__, name), name.rstrip("_"))


def common_versions(ours: type[Message], theirs: Any) -> list[int]:
    text = theirs.json["validVersions"]
    lo, _, hi = text.partition("-")
    their_lo, their_hi = int(lo), int(hi or lo)
    return list(range(max(ours.MIN_VERSION, their_lo), min(ours.MAX_VERSION, their_hi) + 1))


def to_kafka_python(obj: Message, kp_cls: Any, version: int) -> Any:
    """Build the kafka-python equivalent of ``obj`` (only the fields present at ``version``)."""
    kwargs: dict[str, Any] = {}
    for spec in type(obj)._FIELDS:
        if not in_range(spec.min_version, spec.max_version, version):
            continue
        if not _compared(type(obj), spec.name):
            continue
        value = getattr(obj, spec.name)
        kwargs[_their_name(type(obj), spec.name)] = _convert(value, spec.kafka_type, spec.struct, kp_cls, version)
    return kp_cls(**kwargs)


def _convert(value: Any, kafka_type: str, struct: Any, kp_parent: Any, version: int) -> Any:
    if value is None:
        return None
    elem = kafka_type.removeprefix("[]")
    if kafka_type.startswith("[]"):
        return [_convert(v, elem, struct, kp_parent, version) for v in value]
    if struct is not None:
        return to_kafka_python(value, getattr(kp_parent, struct.__name__), version)
    if elem == "uuid":
        # kafka-python spells the all-zero uuid (Kafka's default) as None.
        return None if value == bytes(16) else uuid.UUID(bytes=bytes(value))
    if elem == "records":
        return bytes(value)
    return value


def from_kafka_python(kp_obj: Any, cls: type[Message], version: int) -> Message:
    """Read a kafka-python object back into the brook class, field by field."""
    kwargs: dict[str, Any] = {}
    for spec in cls._FIELDS:
        if not in_range(spec.min_version, spec.max_version, version):
            continue
        if not _compared(cls, spec.name):
            continue
        value = getattr(kp_obj, _their_name(cls, spec.name))
        kwargs[spec.name] = _back(value, spec.kafka_type, spec.struct, version)
    return cls(**kwargs)


def _back(value: Any, kafka_type: str, struct: Any, version: int) -> Any:
    elem = kafka_type.removeprefix("[]")
    if value is None:
        # kafka-python reads the all-zero uuid as None.
        return bytes(16) if kafka_type == "uuid" else None
    if kafka_type.startswith("[]"):
        return [_back(v, elem, struct, version) for v in value]
    if struct is not None:
        return from_kafka_python(value, struct, version)
    if elem == "uuid":
        return value.bytes
    if elem == "records":
        return bytes(value)
    return value


_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=lambda c: getattr(c, "__qualname__", ""))
@_SETTINGS
@given(data=st.data())
def test_same_bytes_as_kafka_python(ours: type[Message], theirs: Any, data: st.DataObject) -> None:
    for version in common_versions(ours, theirs):
        obj = _reset_skipped(data.draw(message_strategy(ours, version), label=f"v{version}"))
        encoded = obj.to_bytes(version)
        kp_obj = to_kafka_python(obj, theirs, version)
        kp_bytes = bytes(kp_obj.encode(version=version))
        assert encoded == kp_bytes, f"v{version}"
        # Each side decodes the other's output.
        decoded, pos = ours.decode(memoryview(kp_bytes), 0, version)
        assert pos == len(kp_bytes)
        assert decoded == obj
        if ours.__qualname__ == "ApiVersionsResponse" and obj.error_code != 0:  # type: ignore[attr-defined]
            # kafka-python reads any failed ApiVersions response as v0 (the broker's fallback
            # answer), so the reverse check does not apply.
            continue
        kp_decoded = theirs.decode(encoded, version=version)
        assert from_kafka_python(kp_decoded, ours, version) == obj, f"v{version}"


def test_cases_cover_many_versions() -> None:
    total = sum(len(common_versions(ours, theirs)) for ours, theirs in PAIRS)
    assert total >= 150
