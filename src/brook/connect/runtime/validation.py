"""Connector config validation: Kafka Connect's ``ConfigInfos`` for the validate endpoint.

Kept apart from the herder because it needs no worker state: any worker answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brook.connect.api import ConfigValue, SinkConnector, has_control_chars
from brook.connect.runtime import connector_config, plugins, transformation_chain
from brook.connect.runtime.config_providers import Resolver, placeholder_problems


class RestError(Exception):
    """An error the REST layer turns into ``{"error_code": status, "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

MAX_NAME_BYTES = 1024
"""A name is one segment of every ``/connectors/{name}/...`` request line: one much longer than
this could be created but then not be addressed (HTTP servers and clients cap request lines and
headers at 8-64 KiB), leaving a connector nobody can stop or delete over REST."""


def check_connector_name(name: Any) -> str:
    """A connector name as Kafka Connect accepts it, plus what keeps REST paths unambiguous.

    Kafka refuses empty names and ISO control characters (``ConnectorConfig``'s
    ``NonEmptyStringWithoutControlChars``). Names also become one segment of
    ``/connectors/{name}``: ``/`` would split it, and ``.``/``..`` are dot segments that clients
    and proxies collapse, so ``DELETE /connectors/..`` could not mean that connector.
    Names are at most ``MAX_NAME_BYTES`` long. Names are checked once, where a connector is
    created; the other endpoints simply find no connector of an invalid name (404).
    """
    if not isinstance(name, str) or not name.strip():
        raise RestError(400, "Connector name must not be empty")
    if has_control_chars(name):
        codes = ", ".join(str(ord(c)) for c in name if has_control_chars(c))
        raise RestError(400, f"Invalid value {name!r} for configuration name: String may not "
                             f"contain control sequences but had the following ASCII chars: {codes}")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise RestError(400, f"Invalid value for configuration name: a connector name must be at "
                             f"most {MAX_NAME_BYTES} bytes in UTF-8, not {len(name.encode())}")
    if "/" in name or name in (".", ".."):
        raise RestError(400, f"Invalid value {name} for configuration name: a connector name "
                             f"must not contain '/' or be '.' or '..'")
    return name


def validate(props: Mapping[str, Any], plugin_name: str | None = None,
             resolver: Resolver | None = None) -> dict[str, Any]:
    """Kafka Connect's ``ConfigInfos``: every key of the framework and the plugin, with errors.

    With a ``resolver`` (the worker's config providers) the values are checked as the connector
    will see them, but the answer shows the references and never a resolved value.
    """
    raw = {str(k): (None if v is None else str(v)) for k, v in props.items()}
    if resolver is None:
        return _validate(raw, plugin_name)
    resolved, scrub = resolver.resolve({k: v for k, v in raw.items() if v is not None})
    infos = _validate({**raw, **resolved}, plugin_name)
    for config in infos["configs"]:
        value = config["value"]
        if value["name"] in raw and raw[value["name"]] != resolved.get(value["name"]):
            value["value"] = raw[value["name"]]
        value["errors"] = [scrub(e) for e in value["errors"]]
    for key, reason in placeholder_problems(raw):
        infos["configs"].append({"definition": None, "value": {
            "name": key, "value": raw[key], "recommended_values": [], "visible": True,
            "errors": [f"Invalid value {raw[key]} for configuration {key}: {reason}"]}})
        infos["error_count"] += 1
    return infos


def _validate(raw: dict[str, str | None], plugin_name: str | None) -> dict[str, Any]:
    class_name = plugin_name or raw.get("connector.class") or ""
    if not class_name:
        raise RestError(400, "Connector config is missing connector.class")
    try:
        plugin = plugins.resolve(class_name)
        cls = plugin.load()
    except plugins.UnknownPlugin as exc:
        values = connector_config.COMMON.validate(raw)
        for v in values:
            if v.name == "connector.class":
                v.errors.append(f"Invalid value {class_name} for configuration "
                                f"connector.class: {exc}")
        return _config_infos(class_name, values, {})
    raw.setdefault("connector.class", plugin.class_name)
    base = connector_config.SINK if issubclass(cls, SinkConnector) else connector_config.SOURCE
    values = base.validate(raw)
    plugin_def = cls().config()
    plugin_values = cls().validate({k: v for k, v in raw.items() if v is not None})
    alias_values, alias_keys = transformation_chain.alias_config(raw)
    values += alias_values
    for problem in connector_config.client_override_problems(raw):
        values.append(ConfigValue(problem.name, problem.value, [problem.message]))
    keys = {**base, **plugin_def, **alias_keys}
    return _config_infos(plugin.class_name, values + plugin_values, keys)

def _config_infos(name: str, values: list[ConfigValue], keys: Mapping[str, Any]) -> dict[str, Any]:
    configs = []
    for order, v in enumerate(values):
        key = keys.get(v.name)
        configs.append({"definition": key.definition(order) if key is not None else None,
                        "value": v.to_json()})
    groups = sorted({k.group or "Common" for k in keys.values()})
    return {"name": name, "error_count": sum(len(v.errors) for v in values),
            "groups": groups, "configs": configs}

def check(props: Mapping[str, Any], resolver: Resolver | None = None) -> None:
    """Raise a 400 listing every error of ``props``, as Kafka Connect's create does."""
    infos = validate(props, resolver=resolver)
    errors = [e for c in infos["configs"] for e in c["value"]["errors"]]
    if errors:
        raise RestError(400, f"Connector configuration is invalid and contains the following "
                             f"{len(errors)} error(s):\n" + "\n".join(errors) +
                        "\nYou can also find the above list of errors at the endpoint "
                        "`/connector-plugins/{connectorType}/config/validate`")
