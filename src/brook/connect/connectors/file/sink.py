"""``FileStreamSinkConnector``: append each record's value as one line to ``file``.

As in Kafka's ``FileStreamSinkTask``, ``put`` writes its lines to the file straight away (Kafka
prints them to an unbuffered stream), so whoever tails the file sees each record as it is
consumed, not only at the next offset commit; ``flush`` then makes them durable before the
offsets that cover them are committed.

Like Kafka's, an example connector: the worker offers it only when ``file.connectors.enable``
is set, and ``file`` must lie inside ``file.connectors.allowed.dirs`` (checked when the
connector is validated, and again as the task opens the file: ``open_confined``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from brook.connect.api import (
    ConfigDef,
    ConfigKey,
    Importance,
    SinkConnector,
    SinkRecord,
    SinkTask,
    Task,
    TopicPartition,
    Type,
    confine,
    open_confined,
    policy,
)


def _allowed_file(name: str, value: Any) -> None:
    confine(name, str(value), policy.current().file_dirs)


CONFIG = ConfigDef([ConfigKey("file", Type.STRING, None, Importance.HIGH,
                              "Destination file; standard output when unset.", _allowed_file)])


def _line(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return json.dumps(value, separators=(",", ":"))


class FileStreamSinkTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.path = props.get("file")
        self.fd: int | None = None
        if self.path:
            self.fd = open_confined("file", self.path, policy.current().file_dirs,
                                    os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def put(self, records: Sequence[SinkRecord]) -> None:
        """Write the batch's lines now: one ``write`` per batch, no buffer held until flush."""
        if not records:
            return
        text = "".join(_line(r.value) + "\n" for r in records)
        if self.fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        data = memoryview(text.encode("utf-8", errors="replace"))
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Offsets are committed only after the lines reached the disk."""
        if self.fd is not None:
            os.fsync(self.fd)

    def stop(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class FileStreamSinkConnector(SinkConnector):
    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass
