"""DescribeLogDirs: each log directory of this broker, the partitions in it and their sizes.

What ``kafka-log-dirs.sh --describe`` and ``Admin.describeLogDirs`` show: per directory its
absolute path, the size in bytes of every partition log it holds, the offset lag (0 for a
current log: brook has no future logs being moved between directories) and, from v4, the
file system's total and usable bytes. A null topic list asks for every partition, as in
Kafka; a named partition this broker does not host is simply absent from the answer.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from brook.broker.context import RequestContext
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.describe_log_dirs import (
    DescribeLogDirsRequest,
    DescribeLogDirsResponse,
)

API_KEY = ApiKey.DESCRIBE_LOG_DIRS
MIN_VERSION = 1
MAX_VERSION = 4
REQUEST = DescribeLogDirsRequest

Result = DescribeLogDirsResponse.DescribeLogDirsResult
TopicOut = DescribeLogDirsResponse.DescribeLogDirsTopic
PartitionOut = DescribeLogDirsResponse.DescribeLogDirsPartition


def _space(log_dir: Path) -> tuple[int, int] | None:
    """(total, usable) bytes of the file system holding ``log_dir``; None when it is gone."""
    try:
        st = os.statvfs(log_dir)
    except OSError:
        return None
    return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize


def handle(ctx: RequestContext, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    rm = ctx.services.replica_manager
    wanted: set[tuple[str, int]] | None = None
    if request.topics is not None:
        wanted = {(t.topic, p) for t in request.topics for p in t.partitions}
    by_dir: dict[Path, dict[str, list[PartitionOut]]] = defaultdict(lambda: defaultdict(list))
    for (topic, index), log in rm.log_manager.all_logs():
        if wanted is not None and (topic, index) not in wanted:
            continue
        part = rm.get_partition(topic, index)
        lag = 0 if part is None else max(part.high_watermark - log.log_end_offset, 0)
        by_dir[log.dir.parent.resolve()][topic].append(PartitionOut(
            partition_index=index, partition_size=log.size_bytes,
            offset_lag=lag, is_future_key=False,
        ))
    results = []
    for log_dir in rm.log_manager.log_dirs:
        path = log_dir.resolve()
        space = _space(path)
        if space is None:
            results.append(Result(error_code=ErrorCode.KAFKA_STORAGE_ERROR, log_dir=str(path)))
            continue
        topics = [
            TopicOut(name=name, partitions=sorted(parts, key=lambda p: p.partition_index))
            for name, parts in sorted(by_dir.get(path, {}).items())
        ]
        total, usable = space
        results.append(Result(
            error_code=ErrorCode.NONE, log_dir=str(path), topics=topics,
            total_bytes=total if ctx.api_version >= 4 else -1,
            usable_bytes=usable if ctx.api_version >= 4 else -1,
        ))
    return DescribeLogDirsResponse(throttle_time_ms=0, error_code=ErrorCode.NONE, results=results)
