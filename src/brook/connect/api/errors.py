"""Exceptions of the connector SPI, named as Kafka Connect names them.

The runtime decides what to do with a failure by its class: a ``RetriableException`` from
``put`` is retried with backoff, a ``DataException`` from a converter is a per-record error that
``errors.tolerance=all`` may route to the dead letter queue, anything else fails the task.
"""

from __future__ import annotations


class ConnectException(Exception):
    """A failure of a connector, task or the framework that is not specific to one record."""


class RetriableException(ConnectException):
    """A transient failure: the same call may succeed later (the runtime retries with backoff)."""


class DataException(ConnectException):
    """A record that cannot be converted or written: an error of the data, not of the system."""


class ConfigException(ConnectException):
    """An invalid configuration value; carries the key so that callers can point at it."""

    def __init__(self, name: str, value: object, reason: str, message: str | None = None) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        self.message = message or f"Invalid value {value} for configuration {name}: {reason}"
        super().__init__(self.message)
