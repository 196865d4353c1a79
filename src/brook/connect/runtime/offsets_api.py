"""The KIP-875 offsets endpoints: read, alter and reset a connector's offsets.

Sink offsets are the consumer group's; source offsets are the offset topic's. Changes are only
accepted while the connector is STOPPED, because running tasks would overwrite them. An entry
whose ``offset`` is ``null`` resets its partition: a sink task starts it over from the
earliest offset, a source partition's stored offset is removed (a tombstone in the offset
topic), as in Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brook.connect.runtime import connector_config
from brook.connect.runtime.herder import STOPPED, Herder, RestError

EMPTY_ALTER = "Partitions / offsets need to be provided for an alter offsets request"


def get_offsets(herder: Herder, name: str) -> dict[str, Any]:
    props = herder.connector_config(name)
    if herder.connector_type(name) == "sink":
        parsed = connector_config.SINK.parse(props)
        committed = herder.sink_offsets.get(name, parsed)
        return {"offsets": [
            {"partition": {"kafka_topic": t, "kafka_partition": p}, "offset": {"kafka_offset": o}}
            for (t, p), o in sorted(committed.items())]}
    return {"offsets": [{"partition": p, "offset": o} for p, o in herder.offsets.all(name)]}


def _require_stopped(herder: Herder, name: str) -> None:
    herder.connector_config(name)
    if herder.configs.target_states.get(name) != STOPPED:
        raise RestError(400, "Connectors must be in the STOPPED state before their offsets can "
                             "be modified. This can be done for the specified connector by "
                             "issuing a 'PUT' request to the '/connectors/" + name + "/stop' "
                             "endpoint")


def _sink_key(partition: Mapping[str, Any]) -> tuple[str, int]:
    try:
        return str(partition["kafka_topic"]), int(partition["kafka_partition"])
    except (KeyError, TypeError, ValueError):
        raise RestError(400, "Sink connector offsets must have the keys kafka_topic and "
                             "kafka_partition in the partition") from None


def _entries(offsets: list[Any]) -> list[dict[str, Any]]:
    """Each entry a JSON object whose ``partition`` is an object and ``offset`` one or null."""
    for entry in offsets:
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), dict | None) for k in ("partition", "offset")):
            raise RestError(400, "Each offset must be {\"partition\": {...}, \"offset\": "
                                 "{...} or null}")
    return offsets


def alter_offsets(herder: Herder, name: str, body: Any) -> dict[str, str]:
    if isinstance(body, dict) and body.get("offsets") in (None, []):
        raise RestError(400, EMPTY_ALTER)  # checked first, as Kafka's ConnectorsResource does
    _require_stopped(herder, name)
    if not isinstance(body, dict) or not isinstance(body.get("offsets"), list):
        raise RestError(400, "Offsets must be specified as {\"offsets\": [...]}")
    if herder.connector_type(name) == "sink":
        changes: dict[tuple[str, int], int | None] = {}
        for entry in _entries(body["offsets"]):
            offset = entry.get("offset")
            if offset is not None and not isinstance(offset.get("kafka_offset"), int):
                raise RestError(400, "Sink connector offsets must have the key kafka_offset")
            changes[_sink_key(entry.get("partition") or {})] = (
                None if offset is None else int(offset["kafka_offset"]))
        herder.sink_offsets.alter(name, changes)
    else:
        for entry in _entries(body["offsets"]):
            herder.offsets.put(name, entry.get("partition") or {}, entry.get("offset"))
    return {"message": "The offsets for this connector have been altered successfully"}


def reset_offsets(herder: Herder, name: str) -> dict[str, str]:
    _require_stopped(herder, name)
    if herder.connector_type(name) == "sink":
        herder.sink_offsets.reset(name)
    else:
        for partition, _ in herder.offsets.all(name):
            herder.offsets.put(name, partition, None)
    return {"message": "The offsets for this connector have been reset successfully"}
