"""OffsetFetch: a group's committed offsets (v8+: several groups; null topics: all)."""

from __future__ import annotations

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse

API_KEY = ApiKey.OFFSET_FETCH
MIN_VERSION = 0
MAX_VERSION = 9
REQUEST = OffsetFetchRequest

Topic = OffsetFetchResponse.OffsetFetchResponseTopic
Partition = OffsetFetchResponse.OffsetFetchResponsePartition


def handle(ctx: RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse:
    service = ctx.services.group_coordinator.service
    version = ctx.api_version
    if version >= 8:
        groups = []
        for g in request.groups:
            wanted = (None if g.topics is None
                      else [(t.name, list(t.partition_indexes)) for t in g.topics])
            error, found = service.fetch_offsets(g.group_id, wanted)
            groups.append(OffsetFetchResponse.OffsetFetchResponseGroup(
                group_id=g.group_id, topics=found, error_code=error))
        return OffsetFetchResponse(throttle_time_ms=0, groups=groups)
    wanted = (None if request.topics is None
              else [(t.name, list(t.partition_indexes)) for t in request.topics])
    error, found = service.fetch_offsets(request.group_id, wanted)
    if error != ErrorCode.NONE:
        if version >= 2:
            return OffsetFetchResponse(throttle_time_ms=0, error_code=error, topics=[])
        # v0/v1 have no top-level error: every requested partition carries it.
        return OffsetFetchResponse(topics=[
            Topic(name=name, partitions=[
                Partition(partition_index=i, committed_offset=-1, metadata="", error_code=error)
                for i in indexes])
            for name, indexes in wanted or []
        ])
    return OffsetFetchResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, topics=[
        Topic(name=t.name, partitions=[
            Partition(partition_index=p.partition_index, committed_offset=p.committed_offset,
                      committed_leader_epoch=p.committed_leader_epoch, metadata=p.metadata,
                      error_code=p.error_code)
            for p in t.partitions])
        for t in found
    ])
