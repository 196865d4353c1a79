"""A single-voter metadata quorum over a local log.

With one voter, the leader's own durable log is a majority: a record is committed once it is
fsynced. This class is the ``RaftClient`` surface the controller and the metadata loader use
(``append`` returns once committed, ``read_committed`` replays from the start), so the
multi-voter Raft replaces it without changing its callers. The log is an ordinary partition log
(``__cluster_metadata-0``) of RecordBatches, as in KRaft; each record value is one framed
metadata record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

from brook.records.batch import iter_batches
from brook.records.record import build_batch, decode_records
from brook.storage.log import Log
from brook.storage.log_config import LogConfig

METADATA_TOPIC = "__cluster_metadata"
_EPOCH = 1


class LocalRaftClient:
    """Lifecycle: ``open`` at start (recovers the log), ``append`` from the controller (one at
    a time: the controller serializes its operations), ``close`` at shutdown."""

    def __init__(self, metadata_dir: Path, now_ms: int) -> None:
        self.dir = metadata_dir / f"{METADATA_TOPIC}-0"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = LogConfig.from_props(
            {"segment.bytes": str(64 * 1024 * 1024), "max.message.bytes": str(8 * 1024 * 1024)}, {}
        )
        self.log = Log.open(
            self.dir,
            config,
            recovery_point=0,
            log_start_offset=0,
            clean_shutdown=False,
            now_ms=now_ms,
        )
        self._lock = asyncio.Lock()

    @property
    def end_offset(self) -> int:
        return self.log.log_end_offset

    def read_committed(self) -> Iterator[tuple[int, bytes]]:
        """Every committed record value with its offset, from the start of the log."""
        offset = self.log.log_start_offset
        end = self.log.log_end_offset
        while offset < end:
            info = self.log.read(offset, 1 << 20, end, True)
            if not info.chunks:
                break
            for chunk in info.chunks:
                for pos, header in iter_batches(chunk):
                    for record in decode_records(chunk, pos):
                        if record.value is not None:
                            yield record.offset, record.value
                    offset = header.last_offset + 1

    async def append(self, values: Sequence[bytes], now_ms: int) -> int:
        """Append ``values`` as one batch and return the offset of the last once it is durable."""
        async with self._lock:
            batch = build_batch(
                [(None, v, (), now_ms) for v in values], partition_leader_epoch=_EPOCH
            )
            info = self.log.append_as_leader(memoryview(batch), _EPOCH, now_ms)
            await asyncio.to_thread(self.log.flush, None)
            return int(info.last_offset)

    def close(self) -> None:
        self.log.flush(None)
        self.log.close()
