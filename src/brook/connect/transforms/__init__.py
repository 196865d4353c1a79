"""Kafka Connect's built-in single message transformations and predicates, by Kafka's names.

``BUILTIN_TRANSFORMATIONS`` and ``BUILTIN_PREDICATES`` map each Kafka class name
(``org.apache.kafka.connect.transforms.InsertField$Value``) to its class here; the runtime's
plugin lookup (``brook.connect.runtime.plugins``) adds the ones installed as entry points.
Third-party transformations subclass ``Transformation`` or ``Predicate`` from this package.
"""

from __future__ import annotations

from brook.connect.transforms import cast, fields, flatten, headers, keys, routing, timestamps
from brook.connect.transforms.base import KeyOrValue, Predicate, Transformation

BUILTIN_TRANSFORMATIONS: dict[str, type[Transformation]] = {
    cls.class_name: cls
    for module in (fields, keys, cast, timestamps, routing, flatten, headers)
    for cls in module.TRANSFORMATIONS
}
BUILTIN_PREDICATES: dict[str, type[Predicate]] = {cls.class_name: cls for cls in routing.PREDICATES}

__all__ = ["BUILTIN_PREDICATES", "BUILTIN_TRANSFORMATIONS", "KeyOrValue", "Predicate",
           "Transformation"]
