"""Hand-written support: varints, records chunking, error codes, api keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brook.protocol._codec import (
    read_uvarint,
    read_uvarlong,
    read_varint,
    read_varlong,
    write_uvarint,
    write_varint,
    write_varlong,
)
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode, ProtocolDecodeError
from brook.protocol.messages.fetch import FetchResponse
from brook.protocol.messages.produce import ProduceRequest


@settings(max_examples=200, database=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(-(2**31), 2**31 - 1),
       st.integers(-(2**63), 2**63 - 1))
def test_varints_round_trip(u: int, i: int, q: int) -> None:
    for writer, reader, value in (
        (write_uvarint, read_uvarint, u),
        (write_varint, read_varint, i),
        (write_varlong, read_varlong, q),
    ):
        out = bytearray(b"\xaa")
        writer(out, value)
        assert reader(memoryview(bytes(out)), 1) == (value, len(out))


def test_varint_limits() -> None:
    assert read_uvarint(memoryview(b"\x7f"), 0) == (127, 1)
    assert read_uvarint(memoryview(b"\x80\x01"), 0) == (128, 2)
    with pytest.raises(ProtocolDecodeError):
        read_uvarint(memoryview(b"\x80\x80\x80\x80\x80\x01"), 0)
    with pytest.raises(ProtocolDecodeError):
        read_uvarint(memoryview(b"\x80"), 0)
    with pytest.raises(ProtocolDecodeError):
        read_uvarlong(memoryview(b"\x80" * 10 + b"\x01"), 0)


def test_records_are_neither_copied_on_decode_nor_on_encode() -> None:
    batch = bytearray(b"\x01" * 16384)
    P = ProduceRequest
    req = P(None, -1, 1000, [P.TopicProduceData("t", [P.PartitionProduceData(0, batch)])])
    frame = bytearray(req.to_bytes(9))
    decoded, _ = P.decode(memoryview(frame), 0, 9)
    view = decoded.topic_data[0].partition_data[0].records
    assert isinstance(view, memoryview) and view.obj is frame
    R = FetchResponse
    segment = memoryview(bytearray(b"\x02" * 4096))
    parts: list[bytes | bytearray | memoryview] = [segment[:1000], segment[1000:3000]]
    part = R.PartitionData(partition_index=0, records=parts)
    resp = R(0, 0, 0, [R.FetchableTopicResponse("t", bytes(16), [part])])
    chunks = resp.encode(12)
    assert any(c is parts[0] for c in chunks) and any(c is parts[1] for c in chunks)
    joined = b"".join(chunks)
    again, _ = R.decode(memoryview(joined), 0, 12)
    records = again.responses[0].partitions[0].records
    assert isinstance(records, memoryview) and records == segment[:3000]


def test_error_codes() -> None:
    assert ErrorCode.NONE == 0
    assert ErrorCode.UNKNOWN_SERVER_ERROR == -1
    assert ErrorCode(6) is ErrorCode.NOT_LEADER_OR_FOLLOWER and ErrorCode(6).retriable
    assert not ErrorCode.TOPIC_ALREADY_EXISTS.retriable
    assert ErrorCode.UNSUPPORTED_VERSION.message == "The version of API is not supported."
    assert ErrorCode.of(10_000) is ErrorCode.UNKNOWN_SERVER_ERROR
    codes = sorted(int(c) for c in ErrorCode)
    assert codes == list(range(-1, len(codes) - 1))  # contiguous, nothing skipped
    assert all(c.message for c in ErrorCode if c is not ErrorCode.NONE)


def test_error_codes_agree_with_kafka_python() -> None:
    errors = pytest.importorskip("kafka.errors")
    theirs = {
        c.errno: c for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.BrokerResponseError)
        and getattr(c, "errno", None) is not None
    }
    for code, cls in theirs.items():
        assert code in {int(c) for c in ErrorCode}, code


def test_api_keys() -> None:
    assert ApiKey.PRODUCE == 0 and ApiKey.FETCH == 1 and ApiKey.API_VERSIONS == 18
    assert ApiKey.DESCRIBE_TOPIC_PARTITIONS == 75
    assert len(ApiKey) == 88
