"""Producer ids for idempotent producers, handed out from blocks the controller reserves.

A block is a committed metadata record, so ids are never reused across restarts; within a
block ids are handed out from memory, so InitProducerId costs one log write per thousand
producers.
"""

from __future__ import annotations

import asyncio

from brook.broker.controller_channel import ControllerChannel


class ProducerIdManager:
    def __init__(self, controller: ControllerChannel, broker_id: int) -> None:
        self.controller = controller
        self.broker_id = broker_id
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def generate(self) -> int:
        async with self._lock:
            if self._next >= self._end:
                start, size = await self.controller.allocate_producer_ids(self.broker_id)
                self._next, self._end = start, start + size
            pid = self._next
            self._next += 1
            return pid
