"""Kafka Connect's connector logging context: ``[name|task-0] `` before every line a task logs.

Kafka Connect puts ``connector.context`` in log4j's MDC while a connector or task runs and its
default layout prints it before the message, so one worker's interleaved lines can be told
apart (``[s3-sink|task-0] ``, ``[s3-sink|worker] `` for the connector itself, ``[s3-sink|
task-0|offsets] `` while a task commits offsets). Here the context lives in a ``ContextVar``:
each task thread sets it once when it starts (its offset commits run under ``offsets``), and
everything that thread logs - the runtime, the connector's own code, libraries - carries it;
the herder starts a connector under ``[name|worker] ``. ``ContextFilter`` puts it on each record as
``connector_context``, which the worker's log format prints before the message; records
logged outside any connector have an empty context.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT: contextvars.ContextVar[str] = contextvars.ContextVar("connector_context", default="")
FORMAT = "%(asctime)s %(levelname)s %(connector_context)s%(name)s: %(message)s"
"""The worker's log line: Kafka's ``connect-log4j.properties`` puts the context first too."""


def for_connector(connector: str) -> str:
    return f"[{connector}|worker] "


def for_task(connector: str, task_id: int) -> str:
    return f"[{connector}|task-{task_id}] "


def for_offsets(connector: str, task_id: int) -> str:
    return f"[{connector}|task-{task_id}|offsets] "


def enter(context: str) -> contextvars.Token[str]:
    """Set the context for the rest of this thread's (or task's) work."""
    return CONTEXT.set(context)


@contextlib.contextmanager
def scope(context: str) -> Iterator[None]:
    token = CONTEXT.set(context)
    try:
        yield
    finally:
        CONTEXT.reset(token)


def offsets(method: F) -> F:
    """Run a task's offset-commit method under ``[name|task-n|offsets] `` (Kafka's context)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with scope(for_offsets(self.connector, self.task_id)):
            return method(self, *args, **kwargs)

    return cast(F, wrapper)


class ContextFilter(logging.Filter):
    """Adds ``connector_context`` to every record a handler formats (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "connector_context"):
            record.connector_context = CONTEXT.get()
        return True


def install(root: logging.Logger | None = None) -> None:
    """Give every handler of the root logger the filter and the context-first format."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        handler.setFormatter(logging.Formatter(FORMAT))
