"""Request/response header versions, including Kafka's two special cases."""

from __future__ import annotations

import struct

import pytest

from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ProtocolDecodeError
from brook.protocol.headers import (
    RequestHeader,
    decode_request_header,
    request_header_version,
    response_frame_head,
    response_header_version,
)
from brook.protocol.messages import API_NAMES, REQUESTS, RESPONSES
from brook.protocol.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse


def _header(api_key: int, version: int, corr: int, client: bytes | None) -> bytes:
    prefix = struct.pack(">hhi", api_key, version, corr)
    if client is None:
        return prefix + struct.pack(">h", -1)
    return prefix + struct.pack(">h", len(client)) + client


def test_header_versions() -> None:
    assert request_header_version(ApiKey.PRODUCE, 8) == 1
    assert request_header_version(ApiKey.PRODUCE, 9) == 2
    assert response_header_version(ApiKey.PRODUCE, 8) == 0
    assert response_header_version(ApiKey.PRODUCE, 9) == 1
    assert request_header_version(ApiKey.API_VERSIONS, 3) == 2
    # ApiVersions responses always use header v0, so old and new clients can read them.
    for version in range(0, 5):
        assert response_header_version(ApiKey.API_VERSIONS, version) == 0
    assert request_header_version(ApiKey.CONTROLLED_SHUTDOWN, 0) == 0
    assert request_header_version(ApiKey.CONTROLLED_SHUTDOWN, 1) == 1
    assert request_header_version(999, 0) == 1
    assert request_header_version(ApiKey.PRODUCE, 99) == 1


def test_flexible_header_skips_unknown_tagged_fields() -> None:
    raw = _header(18, 3, 42, b"rdkafka") + b"\x02\x05\x01x\x09\x02yz"
    body = ApiVersionsRequest("librdkafka", "2.3.0").to_bytes(3)
    frame = memoryview(raw + body)
    header, pos = decode_request_header(frame, 0)
    assert (header.request_api_key, header.request_api_version) == (18, 3)
    assert header.correlation_id == 42
    assert header.client_id == "rdkafka"
    request, end = ApiVersionsRequest.decode(frame, pos, 3)
    assert request.client_software_name == "librdkafka"
    assert end == len(frame)


def test_non_flexible_header_and_null_client_id() -> None:
    raw = _header(3, 1, 7, None)
    header, pos = decode_request_header(memoryview(raw + b"rest"), 0)
    assert header.client_id is None
    assert pos == len(raw)


def test_client_id_keeps_int16_length_in_flexible_header() -> None:
    header = RequestHeader(0, 9, 5, "abc")
    encoded = header.to_bytes(2)
    assert encoded == struct.pack(">hhih", 0, 9, 5, 3) + b"abc\x00"


def test_unknown_api_version_still_yields_header() -> None:
    # A future ApiVersions v9 from a newer client: the broker must read correlation id and
    # client id to answer UNSUPPORTED_VERSION with response header v0.
    raw = _header(18, 9, 1234, b"future-client") + b"\x00" + b"opaque body"
    header, pos = decode_request_header(memoryview(raw), 0)
    assert header.request_api_version == 9
    assert header.correlation_id == 1234
    assert header.client_id == "future-client"
    assert pos == len(_header(18, 9, 1234, b"future-client"))
    header, _ = decode_request_header(memoryview(_header(4242, 0, 1, b"x")), 0)
    assert header.request_api_key == 4242


def test_short_header() -> None:
    for raw in (b"", b"\x00\x12", b"\x00\x12\x00\x03\x00", _header(18, 3, 1, b"abc")):
        with pytest.raises(ProtocolDecodeError):
            decode_request_header(memoryview(raw), 0)


def test_response_frame_head() -> None:
    # Size counts the header and the body, not the size field itself.
    assert response_frame_head(7, False, 10) == b"\x00\x00\x00\x0e\x00\x00\x00\x07"
    assert response_frame_head(7, True, 10) == b"\x00\x00\x00\x0f\x00\x00\x00\x07\x00"


def test_api_versions_fallback_response_is_v0() -> None:
    resp = ApiVersionsResponse(35, [ApiVersionsResponse.ApiVersion(18, 0, 4)])
    assert resp.to_bytes(0) == struct.pack(">hihhh", 35, 1, 18, 0, 4)


def test_registries() -> None:
    assert len(REQUESTS) == len(RESPONSES) == len(API_NAMES) == 84
    # ZooKeeper-mode APIs Kafka 4 removed are not generated at all.
    removed = (ApiKey.LEADER_AND_ISR, ApiKey.STOP_REPLICA, ApiKey.UPDATE_METADATA, ApiKey.CONTROLLED_SHUTDOWN)
    assert not set(removed) & set(REQUESTS)
    assert API_NAMES[0] == "Produce" and API_NAMES[18] == "ApiVersions"
    for key, cls in REQUESTS.items():
        assert cls.API_KEY == key == RESPONSES[key].API_KEY
        assert ApiKey(key).name  # every api key has a Kafka name
    assert REQUESTS[0].__name__ == "ProduceRequest"
    assert (REQUESTS[0].MIN_VERSION, REQUESTS[0].MAX_VERSION, REQUESTS[0].FLEXIBLE_MIN) == (0, 11, 9)
    assert REQUESTS[17].FLEXIBLE_MIN == 32767
