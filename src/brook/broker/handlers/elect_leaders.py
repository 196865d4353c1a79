"""ElectLeaders: preferred or unclean leader election, answered per partition as Kafka does.

brook's partitions have one replica, on this broker, which leads while the broker is
registered: the preferred replica is always the leader and an unclean election always finds
one, so every existing partition answers ELECTION_NOT_NEEDED (``kafka-leader-election.sh``
prints "Valid replica already elected"). A partition without a live leader cannot be given
one by an election (its only replica is the one that is gone): PREFERRED_LEADER_NOT_AVAILABLE
or ELIGIBLE_LEADERS_NOT_AVAILABLE, the codes Kafka's controller answers when no replica can
take over. Nothing is written to the metadata log, so no election ever changes a leader here.

As in Kafka, a null partition list means every partition, and then the partitions that need
no election are left out of the answer.
"""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.metadata.image import MetadataImage
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


def _elect(image: MetadataImage, topic: str, index: int, election: int) -> tuple[ErrorCode, str]:
    found = image.topics.by_name.get(topic)
    if found is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such topic as {topic}"
    reg = found.partitions.get(index)
    if reg is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"No such partition as {topic}-{index}"
    live = {b.broker_id for b in image.cluster.brokers.values() if not b.fenced}
    has_leader = reg.leader >= 0 and reg.leader in live
    if election == PREFERRED and has_leader and reg.replicas and reg.leader == reg.replicas[0]:
        return ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.ELECTION_NOT_NEEDED.message
    if election == UNCLEAN and has_leader:
        return ErrorCode.ELECTION_NOT_NEEDED, ErrorCode.ELECTION_NOT_NEEDED.message
    code = (ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE if election == PREFERRED
            else ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE)
    return code, code.message


def _result(index: int, answer: tuple[ErrorCode, str]) -> PartitionResult:
    return PartitionResult(partition_id=index, error_code=answer[0], error_message=answer[1])


def handle(ctx: RequestContext, request: ElectLeadersRequest) -> ElectLeadersResponse:
    image = ctx.services.image
    election = request.election_type if ctx.api_version >= 1 else PREFERRED
    results: list[TopicResult] = []
    if election not in (PREFERRED, UNCLEAN):
        message = f"Unknown election type {election}"
        for t in request.topic_partitions or ():
            results.append(TopicResult(topic=t.topic, partition_result=[
                PartitionResult(partition_id=p, error_code=ErrorCode.INVALID_REQUEST,
                                error_message=message) for p in t.partitions]))
        return ElectLeadersResponse(throttle_time_ms=0, error_code=ErrorCode.INVALID_REQUEST,
                                    replica_election_results=results)
    if request.topic_partitions is None:
        for topic in sorted(image.topics.by_name.values(), key=lambda t: t.name):
            parts = []
            for index in sorted(topic.partitions):
                answer = _elect(image, topic.name, index, election)
                if answer[0] != ErrorCode.ELECTION_NOT_NEEDED:
                    parts.append(_result(index, answer))
            results.append(TopicResult(topic=topic.name, partition_result=parts))
    else:
        for t in request.topic_partitions:
            results.append(TopicResult(topic=t.topic, partition_result=[
                _result(p, _elect(image, t.topic, p, election)) for p in t.partitions]))
    return ElectLeadersResponse(throttle_time_ms=0, error_code=ErrorCode.NONE,
                                replica_election_results=results)
