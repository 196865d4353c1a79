"""Incremental fetch sessions (KIP-227): the broker remembers what a fetcher asked for.

A consumer fetching hundreds of partitions need not repeat them all in every request: after a
full fetch that opens a session (session id 0, epoch 0), each request names only partitions
whose fetch position changed, and each response carries only partitions with something new
(records, or a moved high watermark / log start offset, or an error). The cache is bounded
(``max.incremental.fetch.session.cache.slots``); the least recently used session is evicted
when it is full, and its client falls back to a full fetch after FETCH_SESSION_ID_NOT_FOUND.

Session ids are random, as Kafka's are, not a counter: a counter starts again at 1 when the
broker restarts, so a client still holding the id of a session the old process gave it would
name a new session of another client — and an incremental fetch that matched that session's
epoch would be answered with the other client's partitions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from brook.env import SYSTEM_RNG, Clock, Rng

INITIAL_EPOCH = 0
FINAL_EPOCH = -1

PartitionKey = tuple[str, int]


@dataclass(slots=True)
class CachedPartition:
    """What the session remembers of one partition: the fetcher's position and limits, and
    what the last response told it (to decide what changed)."""

    topic_id: bytes
    fetch_offset: int
    partition_max_bytes: int
    log_start_offset: int = -1
    high_watermark: int = -1
    last_stable_offset: int = -1
    sent_log_start_offset: int = -2
    current_leader_epoch: int = -1
    last_fetched_epoch: int = -1
    """A follower's epochs (KIP-320), kept so its incremental fetches are checked too."""


@dataclass(slots=True)
class FetchSession:
    """``uses_topic_ids``: opened by a v13+ full fetch, so its partitions are keyed by topic
    id (hex), not name. An incremental fetch of the other kind cannot name them: it gets
    FETCH_SESSION_TOPIC_ID_ERROR, as from Kafka, and the client opens a new session."""

    session_id: int
    epoch: int
    partitions: dict[PartitionKey, CachedPartition] = field(default_factory=dict)
    last_used: float = 0.0
    uses_topic_ids: bool = False

    def next_epoch(self) -> int:
        return 1 if self.epoch >= 0x7FFFFFFF else self.epoch + 1


class FetchSessionCache:
    """Event-loop thread only."""

    def __init__(self, max_slots: int, clock: Clock, rng: Rng = SYSTEM_RNG) -> None:
        self.max_slots = max_slots
        self.clock = clock
        self.rng = rng
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, partitions: dict[PartitionKey, CachedPartition],
               uses_topic_ids: bool = False) -> FetchSession | None:
        """A new session for a full fetch, or None when sessions are disabled."""
        if self.max_slots <= 0:
            return None
        while len(self._sessions) >= self.max_slots:
            self._sessions.popitem(last=False)
        session_id = self.rng.randint(1, 0x7FFFFFFF)
        while session_id in self._sessions:
            session_id = self.rng.randint(1, 0x7FFFFFFF)
        session = FetchSession(session_id, 1, partitions, self.clock.monotonic(), uses_topic_ids)
        self._sessions[session_id] = session
        return session

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
            session.last_used = self.clock.monotonic()
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)
