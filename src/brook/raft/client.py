"""The surface of a metadata quorum that the controller and the metadata loader use.

``LocalRaftClient`` (one voter over a local log) implements it today; a multi-voter Raft, or a
metadata store elsewhere, implements the same three calls, and nothing above it changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol


class MetadataLogError(Exception):
    """An append to the metadata log failed in a way that leaves its durability unknown."""


class RaftClient(Protocol):
    """A committed, ordered log of framed metadata records."""

    @property
    def end_offset(self) -> int: ...

    def read_committed(self) -> Iterator[tuple[int, bytes]]:
        """Every committed record as ``(offset, value)``, from the start, in log order."""
        ...

    async def append(self, values: Sequence[bytes], now_ms: int) -> int:
        """Commit ``values`` as one batch; the offset of the last once committed. Raises
        ``MetadataLogError`` when whether they were committed is unknown."""
        ...

    def close(self) -> None: ...
