"""Kafka Connect's ``/admin/loggers``: log levels changed at run time, by Kafka's logger names.

Operators and tools address loggers by the Java names Kafka Connect's classes log under
(``org.apache.kafka.connect.runtime.WorkerSinkTask``, ``io.confluent.connect.s3``, ``root``).
``KAFKA_NAMES`` maps those namespaces onto brook's Python loggers, so ``PUT
/admin/loggers/org.apache.kafka.connect.runtime.WorkerSinkTask`` changes what the sink task
loop logs; a name that maps to nothing is taken as a Python logger name
(``brook.connect.runtime.sink_task`` works too). As in Kafka (``Loggers``):

* a namespace's level applies to the logger and every logger below it that exists, and the
  answer lists the loggers changed, by the name they were addressed by;
* ``GET /admin/loggers`` lists the loggers whose level was set explicitly, with
  ``last_modified`` (ms since the epoch) for those set through the API, else ``null``;
* levels are log4j's (``TRACE``, ``DEBUG``, ``INFO``, ``WARN``, ``ERROR``, ``FATAL``, ``OFF``),
  mapped to Python's; an unknown level is a 404 (Kafka answers that code), a missing one 400.

``scope=cluster`` writes the level to the config topic (``logger-cluster-<namespace>``), and
every worker applies the records written after it started, as Kafka's workers do.
"""

from __future__ import annotations

import logging
import threading

from brook.env.clock import SYSTEM_CLOCK, Clock

ROOT = "root"
TRACE = 5
OFF = logging.CRITICAL + 10
LEVELS = {"ALL": 1, "TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO,
          "WARN": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "OFF": OFF}
_NAMES = {v: k for k, v in LEVELS.items()}

_RT = "org.apache.kafka.connect.runtime"
KAFKA_NAMES: dict[str, str] = {
    "org.apache.kafka.connect": "brook.connect",
    _RT: "brook.connect.runtime",
    f"{_RT}.WorkerSinkTask": "brook.connect.runtime.sink_task",
    f"{_RT}.WorkerSourceTask": "brook.connect.runtime.source_task",
    f"{_RT}.WorkerTask": "brook.connect.runtime.worker_task",
    f"{_RT}.distributed.DistributedHerder": "brook.connect.runtime.herder",
    f"{_RT}.distributed": "brook.connect.runtime.herder",
    f"{_RT}.distributed.WorkerGroupMember": "brook.connect.runtime.group_member",
    f"{_RT}.errors": "brook.connect.runtime.errors",
    f"{_RT}.rest": "brook.connect.runtime.rest",
    f"{_RT}.rest.RestServer": "brook.connect.runtime.rest",
    "org.apache.kafka.connect.storage": "brook.connect.runtime.stores",
    "org.apache.kafka.connect.storage.KafkaConfigBackingStore": "brook.connect.runtime.stores",
    "org.apache.kafka.connect.util.KafkaBasedLog": "brook.connect.runtime.kafka_log",
    "org.apache.kafka.connect.file": "brook.connect.connectors.file",
    "io.confluent.connect.s3": "brook.connect.connectors.s3",
}
_PYTHON_NAMES: dict[str, str] = {}
for _kafka, _python in KAFKA_NAMES.items():
    _PYTHON_NAMES.setdefault(_python, _kafka)


class BadLevel(ValueError):
    pass


def parse_level(text: str) -> int:
    level = LEVELS.get(text.strip().upper())
    if level is None:
        raise BadLevel(f"invalid log level '{text}'.")
    return level


def level_name(level: int) -> str:
    if level in _NAMES:
        return _NAMES[level]
    below = [v for v in _NAMES if v <= level]
    return _NAMES[max(below)] if below else "ALL"


def python_name(namespace: str) -> str:
    """The Python logger a Kafka-style (or Python) name stands for; ``""`` is the root."""
    if namespace.lower() == ROOT:
        return ""
    return KAFKA_NAMES.get(namespace, namespace)


def display_name(python: str) -> str:
    return ROOT if python == "" else _PYTHON_NAMES.get(python, python)


class Loggers:
    clock: Clock = SYSTEM_CLOCK

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last_modified: dict[str, int] = {}

    @staticmethod
    def _existing() -> dict[str, logging.Logger]:
        manager = logging.Logger.manager
        return {name: obj for name, obj in list(manager.loggerDict.items())
                if isinstance(obj, logging.Logger)}

    def _entry(self, python: str, logger: logging.Logger) -> dict[str, object]:
        level = logger.level or logger.getEffectiveLevel()
        return {"level": level_name(level), "last_modified": self.last_modified.get(python)}

    def all_levels(self) -> dict[str, dict[str, object]]:
        """Loggers with a level of their own (Kafka's ``allLevels``), by display name."""
        with self._lock:
            out = {display_name(n): self._entry(n, lg) for n, lg in self._existing().items()
                   if lg.level != logging.NOTSET}
            out[ROOT] = self._entry("", logging.getLogger())
            return dict(sorted(out.items()))

    def level(self, namespace: str) -> dict[str, object] | None:
        """A logger's level (its effective one if it has none); None if it does not exist."""
        python = python_name(namespace)
        with self._lock:
            logger = logging.getLogger() if python == "" else self._existing().get(python)
            return None if logger is None else self._entry(python, logger)

    def set_level(self, namespace: str, level: str) -> list[str]:
        """Set ``namespace`` and the loggers below it; the names of the loggers it covers."""
        value = parse_level(level)
        python = python_name(namespace)
        now = self.clock.now_ms()
        with self._lock:
            existing = self._existing()
            if python == "":
                targets = {"": logging.getLogger(), **existing}
            else:
                targets = {n: lg for n, lg in existing.items()
                           if n == python or n.startswith(python + ".")}
                targets.setdefault(python, logging.getLogger(python))
            for name, logger in targets.items():
                if (logger.level or logger.getEffectiveLevel()) != value:
                    logger.setLevel(value)
                    self.last_modified[name] = now
            return sorted(ROOT if n == "" else (namespace if n == python else display_name(n))
                          for n in targets)


LOGGERS = Loggers()
"""The worker process's loggers (Python's logging is per process, as log4j's is per JVM)."""
