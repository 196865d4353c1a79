"""Which codec directions ship in ``src/`` and which only in the test-only package.

A broker decodes requests and encodes responses. It takes the client's part only for the
requests brokers send each other: fetching from a leader, reporting ISR changes, registering
and heartbeating to the controller, forwarding admin requests (inside an Envelope) and asking
a peer's ApiVersions. Every other client direction (request encoders, response decoders) is
needed only by tests that talk to the broker as a client, so ``tests/protocol_codec`` holds it
and attaches it to the same classes when imported.

Headers, the client-side data schemas and every record schema are read and written by brook
itself, so both directions stay in ``src/``.
"""

from __future__ import annotations

from tools.codegen.model import Schema

# Requests a broker sends to another broker or to the controller (Kafka's names).
INTER_BROKER_CLIENT_APIS = frozenset(
    {
        "Fetch",
        "AlterPartition",
        "ApiVersions",
        "Envelope",
        "BrokerRegistration",
        "BrokerHeartbeat",
        "AllocateProducerIds",
        # A follower finding where its log diverges, and the leader's offsets after OFFSET_OUT_OF_RANGE.
        "OffsetForLeaderEpoch",
        "ListOffsets",
        # Admin requests a broker forwards to the controller.
        "CreateTopics",
        "DeleteTopics",
        "CreatePartitions",
        "AlterConfigs",
        "IncrementalAlterConfigs",
        "ElectLeaders",
        "AlterPartitionReassignments",
        "ListPartitionReassignments",
        "CreateAcls",
        "DeleteAcls",
    }
)

# APIs of ZooKeeper-mode clusters that Kafka 4 removed (its ApiKeys no longer lists them):
# brook never generates them.
REMOVED_APIS = frozenset({"LeaderAndIsr", "StopReplica", "UpdateMetadata", "ControlledShutdown"})


def api_name(schema: Schema) -> str:
    return schema.name.removesuffix("Request").removesuffix("Response")


def is_removed(schema: Schema) -> bool:
    return schema.kind in ("request", "response") and api_name(schema) in REMOVED_APIS


def server_directions(schema: Schema) -> tuple[bool, bool]:
    """(decode, encode) emitted into ``src/`` for ``schema``."""
    if schema.kind == "request":
        return True, api_name(schema) in INTER_BROKER_CLIENT_APIS
    if schema.kind == "response":
        return api_name(schema) in INTER_BROKER_CLIENT_APIS, True
    return True, True


def client_only_directions(schema: Schema) -> tuple[bool, bool]:
    """(decode, encode) emitted into the test-only package: the complement of ``src/``."""
    decode, encode = server_directions(schema)
    return not decode, not encode
