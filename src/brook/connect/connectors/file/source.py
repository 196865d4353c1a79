"""``FileStreamSourceConnector``: each new line of ``file`` becomes a record of ``topic``.

An example connector, offered only with ``file.connectors.enable``; ``file`` must lie inside
``file.connectors.allowed.dirs`` (see ``file/sink.py``).

The source offset is Kafka's: partition ``{"filename": <file>}``, offset ``{"position": <byte
position after the line>}``, so a restarted task continues after the last delivered line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import IO, Any

from brook.connect.api import (
    ConfigDef,
    ConfigKey,
    Importance,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Task,
    Type,
    at_least,
    confine,
    non_empty_string,
    open_confined,
    policy,
)


def _allowed_file(name: str, value: Any) -> None:
    confine(name, str(value), policy.current().file_dirs)


CONFIG = ConfigDef([
    ConfigKey("file", Type.STRING, importance=Importance.HIGH, validator=_allowed_file,
              documentation="Source file."),
    ConfigKey("topic", Type.STRING, importance=Importance.HIGH, validator=non_empty_string,
              documentation="Topic to write lines to."),
    ConfigKey("batch.size", Type.INT, 2000, Importance.LOW, "Max lines per poll.", at_least(1)),
])


class FileStreamSourceTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        cfg = CONFIG.parse(props)
        self.path, self.topic = str(cfg["file"]), str(cfg["topic"])
        self.batch = int(cfg["batch.size"])
        self.partition = {"filename": self.path}
        stored = self.context.offset_storage_reader().offset(self.partition)
        self.position = int(stored["position"]) if stored else 0
        self.stream: IO[bytes] | None = None

    def poll(self) -> list[SourceRecord] | None:
        if self.stream is None:
            try:
                fd = open_confined("file", self.path, policy.current().file_dirs, os.O_RDONLY)
                self.stream = open(fd, "rb")
            except FileNotFoundError:
                time.sleep(0.5)
                return None
            self.stream.seek(self.position)
        records: list[SourceRecord] = []
        while len(records) < self.batch:
            line = self.stream.readline()
            if not line.endswith(b"\n"):
                self.stream.seek(self.position)  # a partial line: wait for its end
                break
            self.position += len(line)
            records.append(SourceRecord(
                topic=self.topic, kafka_partition=None, key=None,
                value=line.rstrip(b"\r\n").decode(errors="replace"),
                value_schema={"type": "string", "optional": False},
                source_partition=self.partition, source_offset={"position": self.position}))
        if not records:
            time.sleep(0.2)
        return records

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.close()


class FileStreamSourceConnector(SourceConnector):
    def config(self) -> ConfigDef:
        return CONFIG

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]

    def stop(self) -> None:
        pass
