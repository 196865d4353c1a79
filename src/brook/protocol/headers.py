"""Request and response headers: which header version goes with which API version.

A request header is v2 (tagged fields at the end) when its API version is flexible, else v1;
``ClientId`` keeps its int16 length in every version so that a broker can read the header of a
request it does not understand. Two exceptions come from Kafka: ControlledShutdown v0 uses
header v0 (no client id), and ApiVersions responses always use response header v0, because a
client that sent a too-new ApiVersions request must still be able to read the answer (an
UNSUPPORTED_VERSION error plus the versions the broker does support).
"""

from __future__ import annotations

from struct import Struct

from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ProtocolDecodeError
from brook.protocol.messages import REQUESTS
from brook.protocol.messages.request_header import RequestHeader
from brook.protocol.messages.response_header import ResponseHeader

__all__ = [
    "RequestHeader",
    "ResponseHeader",
    "decode_request_header",
    "request_header_version",
    "response_frame_head",
    "response_header_version",
]

_KEY_VERSION = Struct(">hh")
_SIZE_CORRELATION = Struct(">ii")
_SIZE_CORRELATION_NO_TAGS = Struct(">iiB")


def _is_flexible(api_key: int, api_version: int) -> bool | None:
    """Whether the version is flexible; None when the codec does not know the API version."""
    cls = REQUESTS.get(api_key)
    if cls is None:
        return None
    if not cls.MIN_VERSION <= api_version <= cls.MAX_VERSION:
        return None
    return bool(api_version >= cls.FLEXIBLE_MIN)


def request_header_version(api_key: int, api_version: int) -> int:
    """Header version of a request: 2 if the API version is flexible, else 1.

    Unknown API keys and versions get 1: api key, version, correlation id and client id are
    laid out identically in v1 and v2, which is all a broker needs to refuse the request.
    """
    if api_key == ApiKey.CONTROLLED_SHUTDOWN and api_version == 0:
        return 0
    return 2 if _is_flexible(api_key, api_version) else 1


def response_header_version(api_key: int, api_version: int) -> int:
    """Header version of a response: 1 if flexible, else 0; ApiVersions always 0."""
    if api_key == ApiKey.API_VERSIONS:
        return 0
    return 1 if _is_flexible(api_key, api_version) else 0


def decode_request_header(buf: memoryview, pos: int) -> tuple[RequestHeader, int]:
    """Decode a request header, choosing its version from the api key and version it starts with.

    Returns the header and the position of the request body. For an API key or version the
    codec does not know, the header is read as v1 (tagged fields of a v2 header, if any, are
    then left unread: the body will not be decoded anyway).
    """
    if type(buf) is not memoryview:
        buf = memoryview(buf)
    if pos < 0 or len(buf) - pos < _KEY_VERSION.size:
        raise ProtocolDecodeError("buffer too short for a request header")
    api_key, api_version = _KEY_VERSION.unpack_from(buf, pos)
    return RequestHeader.decode(buf, pos, request_header_version(api_key, api_version))


def response_frame_head(correlation_id: int, flexible: bool, body_size: int) -> bytes:
    """Size prefix plus response header, packed at once: the correlation id, and in header v1
    (``flexible``) an empty tagged-field section. ``body_size`` is the encoded body's length."""
    if flexible:
        return _SIZE_CORRELATION_NO_TAGS.pack(body_size + 5, correlation_id, 0)
    return _SIZE_CORRELATION.pack(body_size + 4, correlation_id)
