"""The stable connector SPI. Connectors import from here and nothing else in brook.

Third-party connectors register a ``Connector`` subclass under the entry-point group
``brook.connectors`` (``name = "package.module:ClassName"``); the worker lists and loads them
next to the built-in ones.
"""

from brook.connect.api.config import (
    NO_DEFAULT,
    ConfigDef,
    ConfigKey,
    ConfigValue,
    Importance,
    Type,
    at_least,
    non_empty_string,
    one_of,
)
from brook.connect.api.connector import (
    Connector,
    ConnectorContext,
    ErrantRecordReporter,
    OffsetStorageReader,
    SinkConnector,
    SinkTask,
    SinkTaskContext,
    SourceConnector,
    SourceTask,
    SourceTaskContext,
    Task,
)
from brook.connect.api.errors import (
    ConfigException,
    ConnectException,
    DataException,
    RetriableException,
)
from brook.connect.api.policy import WorkerPolicy, confine, has_control_chars, open_confined
from brook.connect.api.records import (
    ConnectRecord,
    Header,
    Headers,
    SinkRecord,
    SourceRecord,
    TopicPartition,
)

ENTRY_POINT_GROUP = "brook.connectors"

__all__ = [
    "ENTRY_POINT_GROUP", "NO_DEFAULT", "ConfigDef", "ConfigException", "ConfigKey", "ConfigValue",
    "ConnectException", "ConnectRecord", "Connector", "ConnectorContext", "DataException",
    "ErrantRecordReporter", "Header", "Headers", "Importance", "OffsetStorageReader",
    "RetriableException", "SinkConnector", "SinkRecord", "SinkTask", "SinkTaskContext",
    "SourceConnector", "SourceRecord", "SourceTask", "SourceTaskContext", "Task", "TopicPartition",
    "Type", "WorkerPolicy", "at_least", "confine", "has_control_chars", "non_empty_string",
    "one_of", "open_confined",
]
