"""A fetch long-polling a partition that leaves this broker (here: its topic is deleted) is
answered at once with Kafka's error for a partition it does not host, not kept waiting on a
log whose directory is being deleted, and never served from it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from brook.broker.handlers import fetch, produce
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.fetch import FetchRequest
from tests.unit.broker.test_handlers_services import Setup, _produce


def test_a_waiting_fetch_of_a_deleted_partition_answers_unknown_at_once(tmp_path: Path) -> None:
    async def body() -> None:
        s = Setup(tmp_path)
        try:
            await s.start("gone")
            answer = await s.call(produce, _produce("gone", 0, 3))
            assert answer.responses[0].partition_responses[0].error_code == ErrorCode.NONE
            topic_id = s.services.image.topics.by_name["gone"].topic_id
            request = FetchRequest(
                replica_id=-1, max_wait_ms=10_000, min_bytes=1, max_bytes=1 << 20,
                topics=[FetchRequest.FetchTopic(topic="gone", topic_id=topic_id, partitions=[
                    FetchRequest.FetchPartition(partition=0, fetch_offset=3,
                                                partition_max_bytes=1 << 20)])])
            waiting = asyncio.ensure_future(s.call(fetch, request, 12))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # at the log end: it long-polls
            started = time.monotonic()
            [(_, _, error)] = await s.services.controller.delete_topics([("gone", None)])
            assert error is None
            # Well before its 10 s wait ends, even on a loaded machine.
            response = await asyncio.wait_for(waiting, 8)
            assert time.monotonic() - started < 8
            data = response.responses[0].partitions[0]
            assert data.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            assert not data.records
        finally:
            await s.close()

    asyncio.run(body())
