"""Connector plugins: the built-ins under their Kafka/Confluent class names, plus entry points.

``connector.class`` may be the full Java class name users paste from Kafka or Confluent
configurations, its short alias (``S3SinkConnector``, ``FileStreamSink``), or the name of an
installed plugin (an entry point in the ``brook.connectors`` group). Nothing else: a class
name is never turned into an import of whatever module it names, because connector configs
come from the REST API and an import runs code (a ``.py`` file a connector managed to write
would otherwise run inside the worker). Kafka Connect likewise only instantiates classes found
on its plugin path.

The FileStream connectors are examples, as in Kafka since 3.2 (off the default plugin path):
they are offered only when the worker sets ``file.connectors.enable=true``. Code running in the
worker process (tests, embedding applications) may add plugins with ``register``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, TypeVar

from brook.connect.api import ENTRY_POINT_GROUP, ConfigDef, Connector, SinkConnector
from brook.connect.transforms import (
    BUILTIN_PREDICATES,
    BUILTIN_TRANSFORMATIONS,
    Predicate,
    Transformation,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Plugin:
    class_name: str
    target: str
    cls: type[Connector] | None = field(default=None, compare=False)

    def load(self) -> type[Connector]:
        if self.cls is not None:
            return self.cls
        module, _, attr = self.target.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise TypeError(f"{self.target} is not a Connector")
        return cls


_S3 = "brook.connect.connectors.s3.connector:S3SinkConnector"
_FILE_SOURCE = "brook.connect.connectors.file.source:FileStreamSourceConnector"
_FILE_SINK = "brook.connect.connectors.file.sink:FileStreamSinkConnector"
FILE_SOURCE_CLASS = "org.apache.kafka.connect.file.FileStreamSourceConnector"
FILE_SINK_CLASS = "org.apache.kafka.connect.file.FileStreamSinkConnector"

BUILTIN: dict[str, Plugin] = {
    "io.confluent.connect.s3.S3SinkConnector": Plugin("io.confluent.connect.s3.S3SinkConnector", _S3),
}
EXAMPLES: dict[str, Plugin] = {
    FILE_SOURCE_CLASS: Plugin(FILE_SOURCE_CLASS, _FILE_SOURCE),
    FILE_SINK_CLASS: Plugin(FILE_SINK_CLASS, _FILE_SINK),
}
ALIASES = {
    "S3SinkConnector": "io.confluent.connect.s3.S3SinkConnector",
    "S3Sink": "io.confluent.connect.s3.S3SinkConnector",
    "FileStreamSource": FILE_SOURCE_CLASS,
    "FileStreamSourceConnector": FILE_SOURCE_CLASS,
    "FileStreamSink": FILE_SINK_CLASS,
    "FileStreamSinkConnector": FILE_SINK_CLASS,
}
_registered: dict[str, Plugin] = {}
_examples_enabled = False


class UnknownPlugin(LookupError):
    pass


def enable_examples(enabled: bool) -> None:
    """Offer (or withdraw) the FileStream example connectors; the worker calls it at start."""
    global _examples_enabled
    _examples_enabled = enabled


def register(class_name: str, cls: type[Connector]) -> None:
    """Add a plugin from code running in the worker process (never from a request)."""
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{cls!r} is not a Connector")
    _registered[class_name] = Plugin(class_name, f"{cls.__module__}:{cls.__qualname__}", cls)


def installed() -> dict[str, Plugin]:
    """Every plugin by canonical class name: built-ins first, then entry points."""
    found = dict(BUILTIN)
    if _examples_enabled:
        found.update(EXAMPLES)
    found.update(_registered)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, Plugin(ep.name, ep.value))
    return found


def resolve(class_name: str) -> Plugin:
    """The installed plugin a ``connector.class`` value names; ``UnknownPlugin`` otherwise."""
    name = class_name.strip()
    name = ALIASES.get(name, name)
    plugins = installed()
    if name in plugins:
        return plugins[name]
    for plugin in plugins.values():
        if plugin.class_name.rsplit(".", 1)[-1] == name:
            return plugin
    hint = ""
    if name in EXAMPLES:
        hint = " (the FileStream example connectors need file.connectors.enable=true on the worker)"
    available = ", ".join(sorted(plugins))
    raise UnknownPlugin(f"Failed to find any class that implements Connector and which name "
                        f"matches {class_name}, available connectors are: {available}{hint}")


def describe(plugin: Plugin) -> dict[str, str]:
    """The ``GET /connector-plugins`` entry for a plugin."""
    cls = plugin.load()
    return {"class": plugin.class_name, "type": "sink" if issubclass(cls, SinkConnector) else "source",
            "version": cls().version()}


# Transformations and predicates -----------------------------------------------------------
# Kafka's plugin scanning finds them as it finds connectors (``PluginType.TRANSFORMATION``,
# ``PREDICATE``); here they are the built-ins under Kafka's class names plus the entry points
# of their own groups. As for connectors, a name is looked up, never imported as a path.

TRANSFORMATION_ENTRY_POINT_GROUP = "brook.transformations"
PREDICATE_ENTRY_POINT_GROUP = "brook.predicates"


def _entry_point_classes(group: str, base: type[T]) -> dict[str, type[T]]:
    found: dict[str, type[T]] = {}
    for ep in entry_points(group=group):
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not take the worker down
            log.warning("cannot load %s plugin %s: %s", group, ep.name, exc)
            continue
        if isinstance(cls, type) and issubclass(cls, base):
            found.setdefault(ep.name, cls)
    return found


def transformations() -> dict[str, type[Transformation]]:
    """Every transformation by class name: Kafka's built-ins, then entry points."""
    found = dict(BUILTIN_TRANSFORMATIONS)
    for name, cls in _entry_point_classes(TRANSFORMATION_ENTRY_POINT_GROUP, Transformation).items():
        found.setdefault(name, cls)
    return found


def predicates() -> dict[str, type[Predicate]]:
    """Every predicate by class name: Kafka's built-ins, then entry points."""
    found = dict(BUILTIN_PREDICATES)
    for name, cls in _entry_point_classes(PREDICATE_ENTRY_POINT_GROUP, Predicate).items():
        found.setdefault(name, cls)
    return found


def _lookup(name: str, known: Mapping[str, type[T]]) -> type[T] | None:
    name = name.strip()
    if name in known:
        return known[name]
    short = [cls for full, cls in known.items() if full.rsplit(".", 1)[-1] == name]
    return short[0] if len(short) == 1 else None


def resolve_transformation(name: str) -> type[Transformation] | None:
    """The transformation a ``transforms.<alias>.type`` names (full or simple class name)."""
    return _lookup(name, transformations())


def resolve_predicate(name: str) -> type[Predicate] | None:
    """The predicate a ``predicates.<alias>.type`` names (full or simple class name)."""
    return _lookup(name, predicates())


def transformation_plugins() -> list[dict[str, str]]:
    """``GET /connector-plugins?connectorsOnly=false`` entries for transformations and
    predicates, as Kafka lists them (``type`` ``transformation`` or ``predicate``)."""
    out = [{"class": name, "type": "transformation", "version": cls().version()}
           for name, cls in sorted(transformations().items())]
    out += [{"class": name, "type": "predicate", "version": cls().version()}
            for name, cls in sorted(predicates().items())]
    return out


def transformation_config(class_name: str) -> ConfigDef | None:
    """The keys of a transformation or predicate (``GET /connector-plugins/{plugin}/config``),
    or ``None`` when the name is neither."""
    cls: type[Transformation] | type[Predicate] | None = (
        resolve_transformation(class_name) or resolve_predicate(class_name))
    return None if cls is None else cls().config()


def _java_names(table: Mapping[str, Any]) -> list[str]:
    """The fully qualified names of a table that also holds short aliases."""
    return sorted(name for name in table if "." in name)


def _transformations() -> list[str]:
    return _java_names(transformations())


def _predicates() -> list[str]:
    return _java_names(predicates())


def _converters() -> list[str]:
    from brook.connect.runtime.converters import CONVERTERS
    return _java_names(CONVERTERS)


def _header_converters() -> list[str]:
    from brook.connect.runtime.connector_config import HEADER_CONVERTERS
    from brook.connect.runtime.converters import CONVERTERS
    return sorted(set(_java_names(CONVERTERS)) | {n for n in HEADER_CONVERTERS if "." in n})


OTHER_KINDS: list[tuple[str, Callable[[], list[str]]]] = [
    ("transformation", _transformations),
    ("predicate", _predicates),
    ("converter", _converters),
    ("header_converter", _header_converters),
]
"""Kafka's ``PluginType`` names and where the worker finds each kind's classes, in the order
Kafka's ``GET /connector-plugins?connectorsOnly=false`` lists them (after the connectors). A new
kind of plugin is one more entry here."""


def catalog(connectors_only: bool = True) -> list[dict[str, str]]:
    """``GET /connector-plugins``: sink then source connectors, then the other kinds."""
    from brook import __version__
    described = [describe(p) for p in installed().values()]
    out = sorted((d for d in described if d["type"] == "sink"), key=lambda d: d["class"])
    out += sorted((d for d in described if d["type"] == "source"), key=lambda d: d["class"])
    if not connectors_only:
        for kind, lister in OTHER_KINDS:
            out += [{"class": name, "type": kind, "version": __version__} for name in lister()]
    return out
