"""Idempotent-producer state of one partition: Kafka's ``ProducerStateManager``.

For every producer id seen in the log the partition remembers its epoch and the metadata
of its last five batches. That is enough to answer a retried batch with the offsets it got
the first time (the producer keeps at most five batches in flight), to detect gaps in the
sequence numbers and to fence an older incarnation of the producer.

Lifecycle, driven by the partition's ``Log``:

1. On open: ``truncate_and_reload(log_start, log_end, now_ms)`` loads the newest valid
   snapshot at or below the log end; the log then replays its batches from
   ``map_end_offset`` with ``rebuild_from``.
2. On produce: after the batches' offsets are assigned, ``check_and_prepare(headers)``
   validates them without changing state (raising ``DuplicateSequenceError`` and friends),
   the log writes them, then ``update(pending)`` and ``update_map_end_offset(next_offset)``
   commit. A follower appends with ``append_batch(header)`` (no sequence checks: the leader
   did them).
3. On segment roll: ``take_snapshot(sync=False)`` encodes the state on the event loop and
   leaves the file to ``write_pending_snapshots`` in a worker thread (the log's next flush,
   which the roll schedules at once, as Kafka's roll does); on close ``take_snapshot()``
   writes at once. On retention: ``delete_snapshots_below(offset)`` (in a worker thread).
   Every ``producer.id.expiration.check.interval.ms``, and when a snapshot is loaded:
   ``remove_expired_producers(now_ms, producer_id_expiration_ms)``.

Unknown producers. Since Kafka 2.5 (KIP-360) a producer the partition has no state for is
accepted at any sequence number: its state may have been removed by retention, by
DeleteRecords or by expiry, and rejecting it with ``UNKNOWN_PRODUCER_ID`` only made clients
reset. brook does the same; a new *epoch* of a known producer must still start at 0.

Transactions are not implemented yet. The places they will use already exist: each
entry's ``current_txn_first_offset`` and the manager's ``ongoing_txns``; control batches
are accepted and only update the producer's epoch.

Not thread-safe, except the snapshot *files*: owned by one ``Log`` and used from the event
loop, but ``write_pending_snapshots`` and ``delete_snapshots_below`` may run in a worker
thread. Every operation on snapshot files holds ``_io_lock``, so a truncation on the loop
never races a pending write of a snapshot it has just made invalid.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from brook.records.batch import (
    NO_PRODUCER_EPOCH,
    NO_SEQUENCE,
    BatchHeader,
)
from brook.storage.checkpoint import atomic_write
from brook.storage.errors import (
    DuplicateSequenceError,
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
)
from brook.storage.producer_state_entry import (
    NUM_BATCHES_TO_RETAIN,
    SNAPSHOT_SUFFIX,
    BatchMetadata,
    CorruptSnapshotError,
    ProducerStateEntry,
    encode_snapshot,
    list_snapshot_offsets,
    read_snapshot,
    snapshot_path,
    write_snapshot,
)

__all__ = [
    "NUM_BATCHES_TO_RETAIN",
    "SNAPSHOT_SUFFIX",
    "AppendOrigin",
    "BatchMetadata",
    "CorruptSnapshotError",
    "PendingProducerUpdates",
    "ProducerAppendInfo",
    "ProducerStateEntry",
    "ProducerStateManager",
    "list_snapshot_offsets",
    "read_snapshot",
    "snapshot_path",
    "write_snapshot",
]

_INT32_MAX = 0x7FFFFFFF


class AppendOrigin(enum.Enum):
    """Who is appending, which decides how strictly a batch is checked (Kafka's ``AppendOrigin``)."""

    CLIENT = "client"
    """A producer: full epoch, sequence and duplicate checks."""
    REPLICATION = "replication"
    """A follower copying the leader, or recovery replaying the log: the leader already checked."""
    COORDINATOR = "coordinator"
    """The group or transaction coordinator writing its own records."""


def _in_sequence(last_seq: int, next_seq: int) -> bool:
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _INT32_MAX)


class ProducerAppendInfo:
    """The effect of one append on one producer, validated but not yet applied.

    Batches of the same producer in one request are checked against each other through
    ``updated_entry``, which accumulates them (Kafka's ``ProducerAppendInfo``).
    """

    def __init__(self, current: ProducerStateEntry, origin: AppendOrigin) -> None:
        self.producer_id = current.producer_id
        self.origin = origin
        self.current_entry = current
        self.updated_entry = ProducerStateEntry(
            current.producer_id,
            current.producer_epoch,
            current.coordinator_epoch,
            current.last_timestamp,
            current.current_txn_first_offset,
        )

    def append(self, header: BatchHeader) -> None:
        """Validate ``header`` (offsets already assigned) and add it to ``updated_entry``."""
        self._check_producer_epoch(header)
        if header.is_control:
            # Transaction markers: only the epoch is tracked until transactions are implemented.
            self.updated_entry.maybe_update_producer_epoch(header.producer_epoch)
            return
        if self.origin is AppendOrigin.CLIENT:
            self._check_sequence(header)
        entry = self.updated_entry
        entry.maybe_update_producer_epoch(header.producer_epoch)
        entry.add_batch_metadata(
            BatchMetadata(
                header.last_sequence,
                header.last_offset,
                header.last_offset_delta,
                header.max_timestamp,
            )
        )
        entry.last_timestamp = header.max_timestamp

    def _check_producer_epoch(self, header: BatchHeader) -> None:
        current = self.updated_entry.producer_epoch
        if header.producer_epoch < current and self.origin is not AppendOrigin.REPLICATION:
            raise InvalidProducerEpochError(
                f"epoch of producer {self.producer_id} at offset {header.base_offset} is "
                f"{header.producer_epoch}, smaller than the last seen epoch {current}"
            )

    def _check_sequence(self, header: BatchHeader) -> None:
        first_seq = header.base_sequence
        updated = self.updated_entry
        if header.producer_epoch != updated.producer_epoch:
            if first_seq != 0 and updated.producer_epoch != NO_PRODUCER_EPOCH:
                raise OutOfOrderSequenceError(
                    f"invalid sequence number {first_seq} for new epoch {header.producer_epoch} "
                    f"of producer {self.producer_id} (current epoch {updated.producer_epoch}); "
                    "a new epoch must start at 0"
                )
            return
        if not updated.is_empty:
            last_seq = updated.last_seq
        elif header.producer_epoch == self.current_entry.producer_epoch:
            last_seq = self.current_entry.last_seq
        else:
            last_seq = NO_SEQUENCE
        unknown = self.current_entry.producer_epoch == NO_PRODUCER_EPOCH
        if not unknown and not _in_sequence(last_seq, first_seq):
            raise OutOfOrderSequenceError(
                f"out of order sequence number for producer {self.producer_id} at offset "
                f"{header.base_offset}: {first_seq} (incoming), {last_seq} (current end)"
            )


PendingProducerUpdates = dict[int, ProducerAppendInfo]
"""Validated updates of one append, by producer id: ``check_and_prepare``'s result."""


class ProducerStateManager:
    """Producer state of one partition, and its snapshots in the partition directory."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(log_dir)
        self._producers: dict[int, ProducerStateEntry] = {}
        self.ongoing_txns: dict[int, int] = {}
        """first offset -> producer id of open transactions (empty until transactions exist)."""
        self.map_end_offset = 0
        """Every batch below this offset is reflected in the state."""
        self.last_snapshot_offset = 0
        self._pending_snapshots: dict[int, bytes] = {}
        """Encoded snapshots by offset, not yet written (``take_snapshot(sync=False)``)."""
        self._pending_lock = threading.Lock()
        """Guards ``_pending_snapshots`` only (held for dict operations, never for I/O)."""
        self._io_lock = threading.Lock()
        """Held by every operation on snapshot files (see the module docstring)."""

    # -- reading ---------------------------------------------------------------------------

    @property
    def active_producers(self) -> Mapping[int, ProducerStateEntry]:
        """Read-only view of the entries by producer id (for DescribeProducers)."""
        return MappingProxyType(self._producers)

    def last_entry(self, producer_id: int) -> ProducerStateEntry | None:
        return self._producers.get(producer_id)

    # -- appends ---------------------------------------------------------------------------

    def prepare_update(self, producer_id: int, origin: AppendOrigin) -> ProducerAppendInfo:
        current = self._producers.get(producer_id) or ProducerStateEntry(producer_id)
        return ProducerAppendInfo(current, origin)

    def check_and_prepare(
        self, headers: Iterable[BatchHeader], origin: AppendOrigin = AppendOrigin.CLIENT
    ) -> PendingProducerUpdates:
        """Validate the batches of one append against the state without changing it.

        Call it after assigning offsets (it reads ``base_offset``) and before writing.
        Raises ``DuplicateSequenceError`` carrying the original offsets when a client batch
        repeats one of the producer's last five, ``InvalidProducerEpochError`` for a fenced
        epoch, ``OutOfOrderSequenceError`` for a sequence gap. Batches without a producer id
        are ignored.
        """
        pending: PendingProducerUpdates = {}
        for header in headers:
            producer_id = header.producer_id
            if producer_id < 0:
                continue
            if origin is AppendOrigin.CLIENT:
                entry = self._producers.get(producer_id)
                duplicate = entry.find_duplicate_batch(header) if entry is not None else None
                if duplicate is not None:
                    raise DuplicateSequenceError(
                        duplicate.first_offset, duplicate.last_offset, duplicate.timestamp
                    )
            info = pending.get(producer_id)
            if info is None:
                info = pending[producer_id] = self.prepare_update(producer_id, origin)
            info.append(header)
        return pending

    def update(self, pending: PendingProducerUpdates | ProducerAppendInfo) -> None:
        """Apply validated updates once the batches are in the log."""
        infos = pending.values() if isinstance(pending, dict) else (pending,)
        for info in infos:
            current = self._producers.get(info.producer_id)
            if current is None:
                self._producers[info.producer_id] = info.updated_entry
            else:
                current.update(info.updated_entry)

    def append_batch(
        self, header: BatchHeader, origin: AppendOrigin = AppendOrigin.REPLICATION
    ) -> None:
        """Validate and apply one batch at once (follower appends, recovery)."""
        self.update(self.check_and_prepare((header,), origin))

    def update_map_end_offset(self, offset: int) -> None:
        self.map_end_offset = offset

    def rebuild_from(self, headers: Iterable[BatchHeader]) -> None:
        """Replay the log's batches from ``map_end_offset`` on (recovery)."""
        for header in headers:
            if header.next_offset <= self.map_end_offset:
                continue
            if header.producer_id >= 0:
                self.append_batch(header, AppendOrigin.REPLICATION)
            self.map_end_offset = header.next_offset

    def remove_expired_producers(self, now_ms: int, producer_id_expiration_ms: int) -> list[int]:
        """Drop producers idle for ``producer.id.expiration.ms``; return their ids.

        Idle is measured against the producer's last batch timestamp, as Kafka does; a
        producer with an open transaction never expires.
        """
        expired = [
            pid
            for pid, entry in self._producers.items()
            if entry.current_txn_first_offset is None
            and now_ms - entry.last_timestamp >= producer_id_expiration_ms
        ]
        for pid in expired:
            del self._producers[pid]
        return expired

    # -- snapshots and truncation ------------------------------------------------------------

    def take_snapshot(self, *, sync: bool = True) -> Path | None:
        """Snapshot the state as of ``map_end_offset``, unless one there already exists.

        State only changes when batches are appended, and appends move ``map_end_offset``,
        so an existing snapshot at that offset is already up to date. ``sync=False`` only
        encodes it (no I/O): ``write_pending_snapshots`` writes it later, from any thread.
        A crash before then costs a longer replay at the next start, never wrong state: the
        loader replays the log from the newest snapshot that did reach the disk.
        """
        offset = self.map_end_offset
        path = snapshot_path(self.log_dir, offset)
        with self._pending_lock:
            pending = offset in self._pending_snapshots
        if pending or path.exists():
            return None
        data = encode_snapshot(self._producers.values())
        self.last_snapshot_offset = offset
        with self._pending_lock:
            self._pending_snapshots[offset] = data
        if sync:
            self.write_pending_snapshots()
        return path

    @property
    def has_pending_snapshots(self) -> bool:
        return bool(self._pending_snapshots)

    def write_pending_snapshots(self) -> None:
        """Write the snapshots ``take_snapshot(sync=False)`` encoded, oldest first, each
        write-temp, fsync, rename, fsync the directory. Safe from a worker thread."""
        with self._io_lock:
            self._write_pending_locked()

    def _write_pending_locked(self) -> None:
        while True:
            with self._pending_lock:
                if not self._pending_snapshots:
                    return
                offset = min(self._pending_snapshots)
                data = self._pending_snapshots.pop(offset)
            atomic_write(snapshot_path(self.log_dir, offset), data)

    def _drop_pending(self, keep_from: int, keep_to: int) -> None:
        with self._pending_lock:
            for offset in list(self._pending_snapshots):
                if offset < keep_from or offset > keep_to:
                    del self._pending_snapshots[offset]

    def load_latest_snapshot(self, max_offset: int) -> int | None:
        """Replace the state with the newest valid snapshot at or below ``max_offset``.

        Corrupt snapshots are deleted and the next older one is tried. Returns the offset
        loaded (now ``map_end_offset``), or ``None`` with the state cleared.
        """
        self._producers.clear()
        for offset in reversed(list_snapshot_offsets(self.log_dir)):
            if offset > max_offset:
                continue
            path = snapshot_path(self.log_dir, offset)
            try:
                entries = read_snapshot(path)
            except CorruptSnapshotError:
                path.unlink(missing_ok=True)
                continue
            self._producers = {entry.producer_id: entry for entry in entries}
            self.map_end_offset = self.last_snapshot_offset = offset
            return offset
        return None

    def truncate_and_reload(
        self,
        log_start_offset: int,
        log_end_offset: int,
        now_ms: int,
        producer_id_expiration_ms: int | None = None,
    ) -> None:
        """Bring the state in line with a log now spanning [log_start, log_end).

        Deletes snapshots outside that range; if the state does not already end at the log
        end, reloads the newest remaining snapshot (or starts empty at ``log_start_offset``).
        The caller then replays ``[map_end_offset, log_end_offset)`` with ``rebuild_from``.
        """
        with self._io_lock:
            self._drop_pending(log_start_offset, log_end_offset)
            self._write_pending_locked()
            for offset in list_snapshot_offsets(self.log_dir):
                if offset > log_end_offset or offset < log_start_offset:
                    snapshot_path(self.log_dir, offset).unlink(missing_ok=True)
        if log_end_offset != self.map_end_offset:
            self.ongoing_txns.clear()
            if self.load_latest_snapshot(log_end_offset) is None:
                self.map_end_offset = self.last_snapshot_offset = log_start_offset
            if producer_id_expiration_ms is not None:
                self.remove_expired_producers(now_ms, producer_id_expiration_ms)
        else:
            self.map_end_offset = max(self.map_end_offset, log_start_offset)
        offsets = list_snapshot_offsets(self.log_dir)
        self.last_snapshot_offset = offsets[-1] if offsets else log_start_offset

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Forget everything: the log was emptied and restarts at ``offset``."""
        self._producers.clear()
        self.ongoing_txns.clear()
        with self._io_lock:
            self._drop_pending(offset + 1, -1)
            for snapshot_offset in list_snapshot_offsets(self.log_dir):
                snapshot_path(self.log_dir, snapshot_offset).unlink(missing_ok=True)
        self.map_end_offset = self.last_snapshot_offset = offset

    def delete_snapshots_below(self, offset: int) -> None:
        """Delete snapshots older than ``offset`` (their segments were deleted). Safe from a
        worker thread."""
        with self._io_lock:
            self._drop_pending(offset, 1 << 63)
            for snapshot_offset in list_snapshot_offsets(self.log_dir):
                if snapshot_offset < offset:
                    snapshot_path(self.log_dir, snapshot_offset).unlink(missing_ok=True)

    def snapshot_offsets(self) -> list[int]:
        return list_snapshot_offsets(self.log_dir)
