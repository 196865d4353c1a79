"""Hostile and broken input: every failure is a ProtocolDecodeError, never anything else.

A broker decodes frames from untrusted peers; an IndexError or struct.error escaping the codec
would be treated as a bug (and might crash a handler), and a forged array count must not make
it allocate or loop before noticing the buffer is short.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brook.protocol._codec import Message
from brook.protocol.errors import ProtocolDecodeError, UnsupportedVersionError
from brook.protocol.messages.api_versions import ApiVersionsRequest
from brook.protocol.messages.create_topics import CreateTopicsRequest
from brook.protocol.messages.fetch import FetchRequest, FetchResponse
from brook.protocol.messages.metadata import MetadataRequest, MetadataResponse
from brook.protocol.messages.produce import ProduceRequest
from tests.support.protocol import at_version, message_strategy, top_level_classes, versions

CLASSES = top_level_classes()


def _produce() -> ProduceRequest:
    P = ProduceRequest
    return P("txn", -1, 1000, [P.TopicProduceData("t", [P.PartitionProduceData(0, b"x" * 100)])])


def _metadata_response() -> MetadataResponse:
    R = MetadataResponse
    broker = R.MetadataResponseBroker(1, "localhost", 9092, "az-a")
    part = R.MetadataResponsePartition(0, 0, 1, 5, [1, 2], [1, 2], [])
    topic = R.MetadataResponseTopic(0, "orders", bytes(range(16)), False, [part], 0)
    return R(0, [broker], "cluster", 1, [topic])


def _fetch_response() -> FetchResponse:
    R = FetchResponse
    part = R.PartitionData(
        partition_index=0,
        high_watermark=10,
        last_stable_offset=10,
        aborted_transactions=[R.AbortedTransaction(7, 3)],
        current_leader=R.LeaderIdAndEpoch(1, 2),
        records=b"r" * 64,
    )
    return R(0, 0, 5, [R.FetchableTopicResponse("t", bytes(16), [part])])


def _fetch_request() -> FetchRequest:
    Q = FetchRequest
    part = Q.FetchPartition(0, 5, 100, -1, 0, 1 << 20)
    return Q(
        cluster_id=None,
        replica_id=-1,
        max_wait_ms=500,
        min_bytes=1,
        max_bytes=1 << 20,
        topics=[Q.FetchTopic("t", bytes(16), [part])],
        forgotten_topics_data=[Q.ForgottenTopic("old", bytes(16), [1, 2])],
        rack_id="az-a",
    )


SAMPLES: list[tuple[Message, list[int]]] = [
    (_produce(), [3, 8, 9, 11]),
    (_fetch_request(), [4, 7, 11, 12, 13, 17]),
    (_metadata_response(), [0, 1, 7, 9, 12]),
    (_fetch_response(), [4, 11, 12, 16]),
    (MetadataRequest([MetadataRequest.MetadataRequestTopic(bytes(16), "a")]), [4, 9, 12]),
    (ApiVersionsRequest("librdkafka", "2.3.0"), [3]),
    (
        CreateTopicsRequest(
            [
                CreateTopicsRequest.CreatableTopic(
                    "t", 3, 2, [], [CreateTopicsRequest.CreatableTopicConfig("k", "v")]
                )
            ],
            30000,
        ),
        [1, 4, 5, 7],
    ),
]


@pytest.mark.parametrize(("obj", "vers"), SAMPLES, ids=lambda x: type(x).__name__)
def test_every_truncation_raises_decode_error(obj: Message, vers: list[int]) -> None:
    cls = type(obj)
    for version in vers:
        encoded = at_version(obj, version).to_bytes(version)
        for cut in range(len(encoded)):
            with pytest.raises(ProtocolDecodeError):
                cls.decode(memoryview(encoded[:cut]), 0, version)
        _, pos = cls.decode(memoryview(encoded), 0, version)
        assert pos == len(encoded)


_FUZZ = settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
@_FUZZ
@given(data=st.data())
def test_garbage_and_mutations_only_raise_decode_error(cls: type[Message], data: st.DataObject) -> None:
    for version in versions(cls):
        valid = data.draw(message_strategy(cls, version)).to_bytes(version)
        garbage = data.draw(st.binary(max_size=64))
        flip = data.draw(st.integers(min_value=0, max_value=max(len(valid) - 1, 0)))
        mutated = bytearray(valid)
        if mutated:
            mutated[flip] ^= 0xFF
        for candidate in (garbage, bytes(mutated), valid[: len(valid) // 2]):
            try:
                _, pos = cls.decode(memoryview(candidate), 0, version)
            except ProtocolDecodeError:
                continue
            assert 0 <= pos <= len(candidate)


def test_huge_array_count_is_refused_without_allocating() -> None:
    # acks, timeout, then a topic count of 2**31-1 with nothing behind it.
    frame = struct.pack(">hhii", -1, -1, 1000, 0x7FFFFFFF)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolDecodeError):
            ProduceRequest.decode(memoryview(frame), 0, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    # Same with a compact (varint) count in a flexible version: null txn id, acks, timeout.
    flexible = b"\x00" + struct.pack(">hi", -1, 1000) + b"\xff\xff\xff\xff\x07"
    with pytest.raises(ProtocolDecodeError):
        ProduceRequest.decode(memoryview(flexible), 0, 9)


def test_negative_length_of_non_nullable_string() -> None:
    # MetadataRequest v1: topics array of one, topic name with length -5.
    frame = struct.pack(">ih", 1, -5)
    with pytest.raises(ProtocolDecodeError):
        MetadataRequest.decode(memoryview(frame), 0, 1)


def test_invalid_utf8() -> None:
    frame = struct.pack(">ih", 1, 2) + b"\xff\xfe"
    with pytest.raises(ProtocolDecodeError):
        MetadataRequest.decode(memoryview(frame), 0, 1)


def test_overlong_varint() -> None:
    # ApiVersionsRequest v3: client software name whose compact length never terminates.
    with pytest.raises(ProtocolDecodeError):
        ApiVersionsRequest.decode(memoryview(b"\xff" * 6 + b"\x01"), 0, 3)


def test_string_longer_than_buffer() -> None:
    frame = struct.pack(">ih", 1, 50) + b"abc"
    with pytest.raises(ProtocolDecodeError):
        MetadataRequest.decode(memoryview(frame), 0, 1)


def test_unknown_version() -> None:
    with pytest.raises(UnsupportedVersionError):
        ProduceRequest.decode(memoryview(b""), 0, 99)
    with pytest.raises(UnsupportedVersionError):
        ProduceRequest.decode(memoryview(b""), 0, -1)
    with pytest.raises(UnsupportedVersionError):
        _produce().encode(99)


def test_unknown_tagged_fields_are_skipped() -> None:
    # ApiVersionsRequest v3 with two tagged fields nobody knows (tags 7 and 300).
    body = ApiVersionsRequest("c", "1").to_bytes(3)
    assert body.endswith(b"\x00")
    tags = b"\x02" + b"\x07\x03abc" + b"\xac\x02\x01z"
    decoded, pos = ApiVersionsRequest.decode(memoryview(body[:-1] + tags), 0, 3)
    assert decoded == ApiVersionsRequest("c", "1")
    assert pos == len(body) - 1 + len(tags)
    # A tagged field whose size runs past the end is malformed.
    with pytest.raises(ProtocolDecodeError):
        ApiVersionsRequest.decode(memoryview(body[:-1] + b"\x01\x07\x09ab"), 0, 3)


def test_known_tagged_field_round_trip_and_default_omitted() -> None:
    R = FetchResponse
    part = R.PartitionData(partition_index=0, high_watermark=10, aborted_transactions=None)
    empty = R(0, 0, 0, [R.FetchableTopicResponse("t", bytes(16), [part])]).to_bytes(12)
    part.current_leader = R.LeaderIdAndEpoch(3, 4)
    tagged = R(0, 0, 0, [R.FetchableTopicResponse("t", bytes(16), [part])]).to_bytes(12)
    assert len(tagged) > len(empty)
    decoded, _ = R.decode(memoryview(tagged), 0, 12)
    assert decoded.responses[0].partitions[0].current_leader == R.LeaderIdAndEpoch(3, 4)


def test_encoder_refuses_a_set_field_the_version_lacks() -> None:
    # SessionId (7+) is not ignorable: dropping a live session id would mislead the client.
    with pytest.raises(UnsupportedVersionError, match="SessionId"):
        FetchResponse(session_id=5).to_bytes(6)
    # ErrorCode (7+) is ignorable: older versions leave it out silently.
    assert FetchResponse(error_code=3).to_bytes(6) == FetchResponse().to_bytes(6)
    # A field left at its default is never an obstacle.
    FetchResponse(session_id=0).to_bytes(6)
