"""Connector plugins: the built-ins under their Kafka/Confluent class names, plus entry points.

``connector.class`` may be the full Java class name users paste from Kafka or Confluent
configurations, its short alias (``S3SinkConnector``, ``FileStreamSink``), a third-party entry
point name in the ``brook.connectors`` group, or ``package.module:Class``/``package.module.Class``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from brook.connect.api import ENTRY_POINT_GROUP, Connector, SinkConnector


@dataclass(frozen=True)
class Plugin:
    class_name: str
    target: str

    def load(self) -> type[Connector]:
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise TypeError(f"{self.target} is not a Connector")
        return cls


_S3 = "brook.connect.connectors.s3.connector:S3SinkConnector"
_FILE_SOURCE = "brook.connect.connectors.file.source:FileStreamSourceConnector"
_FILE_SINK = "brook.connect.connectors.file.sink:FileStreamSinkConnector"

BUILTIN: dict[str, Plugin] = {
    "io.confluent.connect.s3.S3SinkConnector": Plugin("io.confluent.connect.s3.S3SinkConnector", _S3),
    "org.apache.kafka.connect.file.FileStreamSourceConnector":
        Plugin("org.apache.kafka.connect.file.FileStreamSourceConnector", _FILE_SOURCE),
    "org.apache.kafka.connect.file.FileStreamSinkConnector":
        Plugin("org.apache.kafka.connect.file.FileStreamSinkConnector", _FILE_SINK),
}
ALIASES = {
    "S3SinkConnector": "io.confluent.connect.s3.S3SinkConnector",
    "S3Sink": "io.confluent.connect.s3.S3SinkConnector",
    "FileStreamSource": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "FileStreamSourceConnector": "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "FileStreamSink": "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "FileStreamSinkConnector": "org.apache.kafka.connect.file.FileStreamSinkConnector",
}


class UnknownPlugin(LookupError):
    pass


def installed() -> dict[str, Plugin]:
    """Every plugin by canonical class name: built-ins first, then entry points."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, Plugin(ep.name, ep.value))
    return found


def resolve(class_name: str) -> Plugin:
    name = class_name.strip()
    name = ALIASES.get(name, name)
    plugins = installed()
    if name in plugins:
        return plugins[name]
    for plugin in plugins.values():
        if plugin.class_name.rsplit(".", 1)[-1] == name:
            return plugin
    if ":" in name or "." in name:
        target = name if ":" in name else ":".join(name.rsplit(".", 1))
        try:
            Plugin(name, target).load()
        except (ImportError, AttributeError, TypeError, ValueError):
            pass
        else:
            return Plugin(name, target)
    raise UnknownPlugin(f"Failed to find any class that implements Connector and which name "
                        f"matches {class_name}")


def describe(plugin: Plugin) -> dict[str, str]:
    """The ``GET /connector-plugins`` entry for a plugin."""
    cls = plugin.load()
    return {"class": plugin.class_name, "type": "sink" if issubclass(cls, SinkConnector) else "source",
            "version": cls().version()}
