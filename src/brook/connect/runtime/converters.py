"""Converters between Kafka's bytes and the values connectors see, by Kafka Connect's class names.

``JsonConverter`` follows Kafka's wire format exactly: with ``schemas.enable=true`` (its default)
every message is an envelope ``{"schema": ..., "payload": ...}``, and without it the message is
the bare JSON value. ``None`` always maps to ``None`` so tombstones survive a round trip.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Protocol

from brook.connect.api import DataException

Schema = Mapping[str, Any] | None


class Converter(Protocol):
    def configure(self, configs: Mapping[str, str], is_key: bool) -> None: ...

    def from_connect_data(self, topic: str, schema: Schema, value: Any) -> bytes | None: ...

    def to_connect_data(self, topic: str, data: bytes | None) -> tuple[Schema, Any]: ...


class ByteArrayConverter:
    """Bytes through unchanged; the right converter when the sink stores the raw message."""

    def configure(self, configs: Mapping[str, str], is_key: bool) -> None:
        pass

    def from_connect_data(self, topic: str, schema: Schema, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise DataException(f"ByteArrayConverter is not compatible with objects of type {type(value).__name__}")

    def to_connect_data(self, topic: str, data: bytes | None) -> tuple[Schema, Any]:
        return ({"type": "bytes", "optional": True}, data)


class StringConverter:
    """UTF-8 (or ``converter.encoding``) text; anything else is written as its ``str()``."""

    def __init__(self) -> None:
        self.encoding = "utf-8"

    def configure(self, configs: Mapping[str, str], is_key: bool) -> None:
        self.encoding = configs.get("converter.encoding", configs.get("encoding", "utf-8"))

    def from_connect_data(self, topic: str, schema: Schema, value: Any) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        return str(value).encode(self.encoding)

    def to_connect_data(self, topic: str, data: bytes | None) -> tuple[Schema, Any]:
        if data is None:
            return ({"type": "string", "optional": True}, None)
        try:
            return ({"type": "string", "optional": True}, data.decode(self.encoding))
        except UnicodeDecodeError as exc:
            raise DataException(f"Failed to deserialize string: {exc}") from exc


def _from_schema(schema: Schema, payload: Any) -> Any:
    """Apply the few schema types whose JSON form differs from the value (``bytes``: base64)."""
    if schema is None or payload is None:
        return payload
    t = schema.get("type")
    if t == "bytes" and isinstance(payload, str):
        return base64.b64decode(payload)
    if t == "struct" and isinstance(payload, dict):
        fields = {f["field"]: f for f in schema.get("fields", [])}
        return {k: _from_schema(fields.get(k), v) for k, v in payload.items()}
    if t == "array" and isinstance(payload, list):
        return [_from_schema(schema.get("items"), v) for v in payload]
    return payload


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(v) for v in value]
    return value


class JsonConverter:
    """Kafka's ``JsonConverter``: the schema envelope when ``schemas.enable`` is true."""

    def __init__(self) -> None:
        self.schemas_enable = True

    def configure(self, configs: Mapping[str, str], is_key: bool) -> None:
        self.schemas_enable = str(configs.get("schemas.enable", "true")).strip().lower() == "true"

    def from_connect_data(self, topic: str, schema: Schema, value: Any) -> bytes | None:
        if value is None and not self.schemas_enable:
            return None
        body = _to_json(value)
        if self.schemas_enable:
            body = {"schema": dict(schema) if schema is not None else None, "payload": body}
        return json.dumps(body, separators=(",", ":")).encode()

    def to_connect_data(self, topic: str, data: bytes | None) -> tuple[Schema, Any]:
        if data is None:
            return (None, None)
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataException(f"Converting byte[] to Kafka Connect data failed due to "
                                f"serialization error: {exc}") from exc
        if not self.schemas_enable:
            return (None, doc)
        if not (isinstance(doc, dict) and set(doc) == {"schema", "payload"}):
            raise DataException(
                'JsonConverter with schemas.enable requires "schema" and "payload" fields and may '
                "not contain additional fields. If you are trying to deserialize plain JSON data, "
                "set schemas.enable=false in your converter configuration.")
        schema = doc["schema"]
        if schema is not None and not isinstance(schema, dict):
            raise DataException("Schema must be a JSON object or null")
        return (schema, _from_schema(schema, doc["payload"]))


CONVERTERS: dict[str, type[Any]] = {
    "org.apache.kafka.connect.storage.StringConverter": StringConverter,
    "org.apache.kafka.connect.json.JsonConverter": JsonConverter,
    "org.apache.kafka.connect.converters.ByteArrayConverter": ByteArrayConverter,
}
for _cls in list(CONVERTERS.values()):
    CONVERTERS[_cls.__name__] = _cls


def header_bytes(value: Any) -> bytes | None:
    """A header value as Kafka's ``SimpleHeaderConverter`` writes it: text as UTF-8, booleans
    as ``true``/``false``, numbers in decimal, maps and lists as JSON, bytes unchanged."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, dict | list):
        return json.dumps(_to_json(value), separators=(",", ":")).encode()
    return str(value).encode()


def make_converter(class_name: str, configs: Mapping[str, str], is_key: bool) -> Converter:
    """Instantiate a converter by Kafka class name or short name and configure it."""
    cls = CONVERTERS.get(class_name.strip())
    if cls is None:
        raise DataException(f"Unknown converter class {class_name}")
    conv: Converter = cls()
    conv.configure(configs, is_key)
    return conv


def converter_configs(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    """``value.converter.schemas.enable=false`` -> ``{"schemas.enable": "false"}``."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in props.items() if k.startswith(p)}
