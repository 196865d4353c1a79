"""Kafka's topic name rules (``org.apache.kafka.common.internals.Topic``)."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 249
# Matched with ``fullmatch``: ``$`` alone would also accept a name ending in a newline, which
# breaks every line-based file that names topics (the offset checkpoints).
_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
CLUSTER_METADATA_TOPIC = "__cluster_metadata"
"""The metadata log's own name: its directory sits beside the partition logs, so no topic may
take it (Kafka refuses to create it as a regular topic)."""


def validate_topic_name(name: str) -> str | None:
    """The reason ``name`` is not a legal topic name, or None when it is."""
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return "Topic name cannot be \".\" or \"..\""
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, "
            f"topic name: {name}"
        )
    if _LEGAL.fullmatch(name) is None:
        return (
            f"Topic name \"{name}\" is illegal, it contains a character other than ASCII "
            "alphanumerics, '.', '_' and '-'"
        )
    return None


def unify_collision_chars(name: str) -> str:
    """'.' and '_' collide in metric names, so Kafka forbids topics differing only by them."""
    return name.replace(".", "_")
