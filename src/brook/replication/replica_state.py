"""What a partition leader knows of one follower: Kafka's ``ReplicaState``.

A follower tells its leader how far it has the log only by fetching: the fetch offset is
its log end. Whether it "keeps up" is decided by time, not by distance (KIP-16 style lag in
time): a follower is caught up when it has fetched up to the leader's log end as it was at
some fetch no longer than ``replica.lag.time.max.ms`` ago. ``last_caught_up_time_ms`` is
updated on each fetch as Kafka's ``updateFetchStateOrThrow`` does: a fetch at the leader's
current end catches up *now*; a fetch at the end the leader had at the previous fetch caught
up *then*.
"""

from __future__ import annotations

UNKNOWN_OFFSET = -1


class ReplicaState:
    """One follower's progress, on its leader. Event-loop thread only."""

    __slots__ = (
        "broker_epoch",
        "last_caught_up_time_ms",
        "last_fetch_leader_log_end_offset",
        "last_fetch_time_ms",
        "log_end_offset",
    )

    def __init__(self, last_caught_up_time_ms: int = 0) -> None:
        self.log_end_offset = UNKNOWN_OFFSET
        self.last_caught_up_time_ms = last_caught_up_time_ms
        self.last_fetch_leader_log_end_offset = UNKNOWN_OFFSET
        self.last_fetch_time_ms = 0
        self.broker_epoch = -1

    def update_fetch_state(
        self, fetch_offset: int, fetch_time_ms: int, leader_end_offset: int, broker_epoch: int
    ) -> None:
        if fetch_offset >= leader_end_offset:
            self.last_caught_up_time_ms = max(self.last_caught_up_time_ms, fetch_time_ms)
        elif fetch_offset >= self.last_fetch_leader_log_end_offset:
            self.last_caught_up_time_ms = max(self.last_caught_up_time_ms,
                                              self.last_fetch_time_ms)
        self.log_end_offset = fetch_offset
        self.last_fetch_leader_log_end_offset = leader_end_offset
        self.last_fetch_time_ms = fetch_time_ms
        if broker_epoch != -1:
            self.broker_epoch = broker_epoch

    def is_caught_up(self, leader_end_offset: int, now_ms: int, lag_time_max_ms: int) -> bool:
        return (self.log_end_offset == leader_end_offset
                or now_ms - self.last_caught_up_time_ms <= lag_time_max_ms)
