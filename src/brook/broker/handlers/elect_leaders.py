"""ElectLeaders: preferred or unclean leader election, decided by the active controller.

The request is forwarded to the controller like any admin request (``ControllerChannel``),
which answers per partition as Kafka's ``ReplicationControlManager.electLeader`` does:
ELECTION_NOT_NEEDED when the preferred replica already leads (or, unclean, when the partition
has a leader), PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE when no
acceptable replica can take over, UNKNOWN_TOPIC_OR_PARTITION for what does not exist.

As in Kafka, a null partition list means every partition: every topic is answered, without
the partitions that need no election.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.controller.partition_change import ElectionResult
from brook.metadata.controller.replication_control import ControllerError
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.elect_leaders import ElectLeadersRequest, ElectLeadersResponse

API_KEY = ApiKey.ELECT_LEADERS
MIN_VERSION = 0
MAX_VERSION = 2
REQUEST = ElectLeadersRequest

PREFERRED = 0
UNCLEAN = 1

PartitionResult = ElectLeadersResponse.PartitionResult
TopicResult = ElectLeadersResponse.ReplicaElectionResult


def _answer(results: list[ElectionResult], order: list[str]) -> list[TopicResult]:
    by_topic: dict[str, list[PartitionResult]] = {name: [] for name in order}
    for r in results:
        by_topic.setdefault(r.topic, []).append(PartitionResult(
            partition_id=r.partition, error_code=r.error, error_message=r.message))
    return [TopicResult(topic=t, partition_result=p) for t, p in by_topic.items()]


async def handle(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    election = request.election_type if ctx.api_version >= 1 else PREFERRED
    requested = request.topic_partitions
    if election not in (PREFERRED, UNCLEAN):
        message = f"Unknown election type {election}"
        return ElectLeadersResponse(
            throttle_time_ms=0, error_code=ErrorCode.INVALID_REQUEST,
            replica_election_results=[TopicResult(topic=t.topic, partition_result=[
                PartitionResult(partition_id=p, error_code=ErrorCode.INVALID_REQUEST,
                                error_message=message) for p in t.partitions])
                for t in requested or ()])
    targets = None if requested is None else [
        (t.topic, p) for t in requested for p in dict.fromkeys(t.partitions)]
    order = [] if requested is None else list(dict.fromkeys(t.topic for t in requested))
    try:
        results = await ctx.services.controller.elect_leaders(election, targets)
    except ControllerError as exc:
        results = [ElectionResult(t, p, exc.code, exc.message) for t, p in targets or ()]
        if targets is None:
            return ElectLeadersResponse(throttle_time_ms=0, error_code=exc.code,
                                        replica_election_results=[])
    if requested is None:
        # Every topic is answered, with only the partitions that needed an election.
        order = sorted({*ctx.services.image.topics.by_name, *(r.topic for r in results)})
    return ElectLeadersResponse(throttle_time_ms=0, error_code=ErrorCode.NONE,
                                replica_election_results=_answer(results, order))
