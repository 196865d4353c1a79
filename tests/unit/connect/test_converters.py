"""Converters round-trip and speak Kafka's JSON envelope."""

from __future__ import annotations

import json

import pytest

from brook.connect.api import DataException
from brook.connect.runtime.converters import make_converter

JSON = "org.apache.kafka.connect.json.JsonConverter"


def test_json_with_schemas_reads_and_writes_the_envelope() -> None:
    conv = make_converter(JSON, {}, is_key=False)
    data = b'{"schema":{"type":"struct","fields":[{"field":"b","type":"bytes"}]},"payload":{"b":"AAE="}}'
    schema, value = conv.to_connect_data("t", data)
    assert schema is not None and schema["type"] == "struct"
    assert value == {"b": b"\x00\x01"}
    out = json.loads(conv.from_connect_data("t", {"type": "string"}, "hi") or b"")
    assert out == {"schema": {"type": "string"}, "payload": "hi"}


def test_json_with_schemas_rejects_plain_json_with_kafkas_message() -> None:
    conv = make_converter(JSON, {}, is_key=False)
    with pytest.raises(DataException, match='requires "schema" and "payload"'):
        conv.to_connect_data("t", b'{"a":1}')


def test_json_without_schemas_and_tombstones() -> None:
    conv = make_converter("JsonConverter", {"schemas.enable": "false"}, is_key=False)
    assert conv.to_connect_data("t", b'{"a":[1,2]}') == (None, {"a": [1, 2]})
    assert conv.to_connect_data("t", None) == (None, None)
    assert conv.from_connect_data("t", None, None) is None
    with pytest.raises(DataException):
        conv.to_connect_data("t", b"not json")


def test_string_and_bytearray() -> None:
    s = make_converter("org.apache.kafka.connect.storage.StringConverter", {}, is_key=True)
    assert s.to_connect_data("t", "héllo".encode())[1] == "héllo"
    assert s.from_connect_data("t", None, 42) == b"42"
    b = make_converter("org.apache.kafka.connect.converters.ByteArrayConverter", {}, is_key=False)
    assert b.to_connect_data("t", b"\xff")[1] == b"\xff"
    with pytest.raises(DataException):
        b.from_connect_data("t", None, "text")
