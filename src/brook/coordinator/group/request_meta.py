"""Who sent a coordinator request, as far as the group state machine cares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """``client_host`` is shown by DescribeGroups the way Kafka shows it (``/127.0.0.1``)."""

    client_id: str
    client_host: str
    api_version: int
