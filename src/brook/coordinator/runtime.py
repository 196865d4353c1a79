"""The coordinator runtime's seams: how a state machine's records reach a log and come back.

A coordinator (Kafka's ``CoordinatorShard``) never touches storage. An operation returns a
``CoordinatorResult``: the records it wants appended plus the response it will give. The
runtime appends the records through a ``PartitionWriter`` (implemented by the broker over its
replica manager), replays them into the shard once the append is acknowledged, and only then
lets the response go out. On leadership, the runtime rebuilds a shard by replaying its partition
from the log start through a ``CoordinatorLoader``. Timers (session and rebalance deadlines) go
through ``CoordinatorTimer``, whose event-loop implementation schedules on the broker's
``Clock``, so a virtual clock (and a virtual-time loop) drives them in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from brook.env.clock import Clock, TimerHandle
from brook.protocol.errors import ErrorCode

T = TypeVar("T")

CoordinatorRecord = tuple[bytes, bytes | None]
"""A ``(key, value)`` pair for a compacted coordinator topic; a ``None`` value is a tombstone."""

ReplayFn = Callable[[int, bytes | None, bytes | None], None]
"""``replay(offset, key, value)``: apply one record read back from the log."""


class CoordinatorWriteError(Exception):
    """An append was refused; ``code`` is the error the log or replica layer reported."""

    def __init__(self, code: ErrorCode, message: str = "") -> None:
        super().__init__(message or code.name)
        self.code = code


class CoordinatorLoadError(Exception):
    """The partition could not be read back (it moved away or was deleted mid-load)."""


class PartitionWriter(Protocol):
    """Appends a coordinator's records to one partition of its topic."""

    async def append(
        self, topic: str, partition: int, records: Sequence[CoordinatorRecord]
    ) -> int:
        """Append ``records`` as one batch and return the offset of the last one once the
        write is as durable as acks=all promises; raise ``CoordinatorWriteError`` otherwise."""
        ...


class CoordinatorLoader(Protocol):
    """Reads a coordinator partition back from its log start, record by record."""

    async def load(self, topic: str, partition: int, replay: ReplayFn) -> None: ...


@dataclass(slots=True)
class CoordinatorResult(Generic[T]):
    """What an operation produced: records to append, and the response.

    ``on_written`` runs once the append has settled, with ``ErrorCode.NONE`` or the error that
    stopped it; state that must not change before the records are durable (a rebalance's
    assignment, a static member's replacement) is changed there.
    """

    records: list[CoordinatorRecord]
    response: T
    on_written: list[Callable[[ErrorCode], None]] = field(default_factory=list)


def commit_error_for(code: ErrorCode) -> ErrorCode:
    """Map an append error to what an offset commit reports (Kafka's mapping)."""
    if code in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE,
                ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return group_error_for(code)


def group_error_for(code: ErrorCode) -> ErrorCode:
    """Map an append error to what a group operation reports: clients retry the first two
    by rediscovering the coordinator."""
    if code == ErrorCode.NONE:
        return code
    if code in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_ENOUGH_REPLICAS,
                ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND, ErrorCode.REQUEST_TIMED_OUT):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if code in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR,
                ErrorCode.NOT_COORDINATOR):
        return ErrorCode.NOT_COORDINATOR
    return ErrorCode.UNKNOWN_SERVER_ERROR


TimerOperation = Callable[[], CoordinatorResult[None] | None]


class CoordinatorTimer(Protocol):
    """Keyed one-shot timers: scheduling a key again replaces its earlier deadline."""

    def schedule(self, key: str, delay_ms: int, operation: TimerOperation) -> None: ...

    def cancel(self, key: str) -> None: ...

    def is_scheduled(self, key: str) -> bool: ...

    def cancel_all(self) -> None: ...


class EventLoopTimer:
    """``CoordinatorTimer`` on the clock's timers: one ``call_later`` handle per key.

    Whatever records an expired operation emits go to ``sink`` (the shard's write queue), in
    the order the timers fire. Lifecycle: created with its shard; ``cancel_all`` when the shard
    is unloaded. Event-loop thread only.
    """

    def __init__(self, sink: Callable[[CoordinatorResult[None]], object], clock: Clock) -> None:
        self._sink = sink
        self._clock = clock
        self._handles: dict[str, TimerHandle] = {}

    def schedule(self, key: str, delay_ms: int, operation: TimerOperation) -> None:
        self.cancel(key)
        self._handles[key] = self._clock.call_later(max(delay_ms, 0) / 1000.0, self._fire, key,
                                                    operation)

    def _fire(self, key: str, operation: TimerOperation) -> None:
        self._handles.pop(key, None)
        result = operation()
        if result is not None and (result.records or result.on_written):
            self._sink(result)

    def cancel(self, key: str) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def is_scheduled(self, key: str) -> bool:
        return key in self._handles

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
