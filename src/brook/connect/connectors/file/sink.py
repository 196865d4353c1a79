"""``FileStreamSinkConnector``: append each record's value as one line to ``file``.

Like Kafka's, an example connector: the worker offers it only when ``file.connectors.enable``
is set, and ``file`` must lie inside ``file.connectors.allowed.dirs`` (checked when the
connector is validated, and again as the task opens the file: ``open_confined``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import IO, Any

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
        self.out: IO[str] | None = None
        if self.path:
            fd = open_confined("file", self.path, policy.current().file_dirs,
                               os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            self.out = open(fd, "a", encoding="utf-8")

    def put(self, records: Sequence[SinkRecord]) -> None:
        for r in records:
            line = _line(r.value) + "\n"
            if self.out is None:
                print(line, end="")
            else:
                self.out.write(line)

    def flush(self, current_offsets: Mapping[TopicPartition, int]) -> None:
        """Offsets are committed only after the lines reached the disk."""
        if self.out is not None:
            self.out.flush()
            os.fsync(self.out.fileno())

    def stop(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


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
