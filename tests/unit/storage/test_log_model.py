"""Model-based test of the partition log: random operations, crashes and power failures.

Hypothesis drives one ``Log`` through appends (valid, idempotent and retried, and invalid
batches), rolls, retention on a virtual clock, DeleteRecords, truncation, flushes (some with
an injected fsync failure), clean restarts, process crashes (kill -9: the page cache
survives) and power failures (only what was synced survives, with torn tails), and compares it
after every step with a model of what must be there:

* after a clean restart or a process crash, every acknowledged record, at its offset;
* after a power failure, at least every record below the recovery point as the log manager
  would last have checkpointed it, and beyond that only a prefix of what was acknowledged
  (those offsets may then be reused: nothing there was ever durable);
* an offset never holds two different records otherwise;
* the log start and end never go back, except through truncation, DeleteRecords and
  retention (start forward only) or a power failure (end back to no less than the recovery
  point);
* retention removes no record whose timestamp is within ``retention.ms``;
* an invalid batch is refused with a storage error and changes nothing.

The file layer is ``brook.testing.faultfs.FaultFs``, installed through ``brook.env.fs``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from brook.records.batch import iter_batches
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import build_batch, decode_records
from brook.storage.errors import StorageError
from brook.storage.log import Log
from brook.testing.clock import VirtualClock
from brook.testing.faultfs import FaultFs
from tests.support.storage_batches import config

RETENTION_MS = 60_000
LOG_CONFIG = config(
    segment_bytes=2048, index_interval_bytes=200, retention_ms=RETENTION_MS,
    segment_index_bytes=4096,
)


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="log-model-"))
        self.dir = self.tmp / "model-0"
        self.fs = FaultFs().install()
        self.clock = VirtualClock()
        self.log = self._open(clean=True, recovery_point=0)
        self.records: dict[int, tuple[bytes, int]] = {}
        """offset -> (value, timestamp) of what the log must hold in [start, end)."""
        self.ever: dict[int, bytes] = {}
        """offset -> value of every record acknowledged and not since legitimately dropped."""
        self.start = 0
        self.end = 0
        self.checkpointed_rp = 0
        self.serial = 0
        self.producer_id = 1000
        self.sequence = 0
        self.last_idempotent: tuple[bytes, int, int] | None = None
        """(batch bytes, first offset, count) of the last idempotent batch, for a retry."""
        self.batch_starts: list[int] = []
        """First offsets of the batches in the log: followers truncate only at these."""

    def teardown(self) -> None:
        try:
            self.log.close()
        finally:
            self.fs.restore()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------------

    def _open(self, *, clean: bool, recovery_point: int, log_start: int = 0) -> Log:
        return Log.open(self.dir, LOG_CONFIG, recovery_point=recovery_point,
                        log_start_offset=log_start, clean_shutdown=clean,
                        now_ms=self.clock.now_ms())

    def _values(self, count: int) -> list[bytes]:
        out = []
        for _ in range(count):
            self.serial += 1
            out.append(b"v%d-" % self.serial + b"x" * (self.serial % 50))
        return out

    def _accept(self, first: int, values: list[bytes], stamps: list[int]) -> None:
        assert first == self.end, f"appended at {first}, log end was {self.end}"
        self.batch_starts.append(first)
        for i, (value, ts) in enumerate(zip(values, stamps, strict=True)):
            offset = first + i
            previous = self.ever.get(offset)
            assert previous is None, f"offset {offset} reused: held {previous!r}, now {value!r}"
            self.records[offset] = (value, ts)
            self.ever[offset] = value
        self.end = first + len(values)

    def _drop_from(self, offset: int) -> None:
        """Offsets >= ``offset`` legitimately left the log (truncation, power failure)."""
        for o in [o for o in self.records if o >= offset]:
            del self.records[o]
        for o in [o for o in self.ever if o >= offset]:
            del self.ever[o]
        self.end = offset
        self.batch_starts = [o for o in self.batch_starts if o < offset]
        self.checkpointed_rp = min(self.checkpointed_rp, offset)
        self.last_idempotent = None
        self.producer_id += 1
        self.sequence = 0

    def _read_all(self) -> dict[int, bytes]:
        log = self.log
        out: dict[int, bytes] = {}
        offset = log.log_start_offset
        end = log.log_end_offset
        while offset < end:
            info = log.read(offset, 1 << 20, end, True)
            if not info.chunks:
                break
            for chunk in info.chunks:
                for pos, header in iter_batches(chunk):
                    for record in decode_records(chunk, pos):
                        if record.offset >= log.log_start_offset:
                            assert record.value is not None
                            out[record.offset] = record.value
                    offset = header.last_offset + 1
        return out

    def _crash(self) -> None:
        """What kill -9 leaves: descriptors released, nothing written, no snapshot."""
        for segment in self.log.segments:
            segment.close_handlers()
        self.log.closed = True

    # -- appends -------------------------------------------------------------------------------

    @rule(count=st.integers(1, 6), age_ms=st.integers(0, 3 * RETENTION_MS))
    def append(self, count: int, age_ms: int) -> None:
        values = self._values(count)
        stamps = [self.clock.now_ms() - age_ms + i for i in range(count)]
        batch = build_batch([(None, v, (), t) for v, t in zip(values, stamps, strict=True)])
        info = self.log.append_as_leader(memoryview(batch), 0, self.clock.now_ms())
        self._accept(info.first_offset, values, stamps)

    @rule(count=st.integers(1, 4))
    def append_idempotent(self, count: int) -> None:
        values = self._values(count)
        now = self.clock.now_ms()
        batch = build_batch([(None, v, (), now) for v in values], producer_id=self.producer_id,
                            producer_epoch=0, base_sequence=self.sequence)
        sent = bytes(batch)
        info = self.log.append_as_leader(memoryview(batch), 0, now)
        assert not info.duplicate
        self._accept(info.first_offset, values, [now] * count)
        self.sequence += count
        self.last_idempotent = (sent, info.first_offset, count)

    @precondition(lambda self: self.last_idempotent is not None)
    @rule()
    def retry_last_idempotent(self) -> None:
        assert self.last_idempotent is not None
        sent, first, count = self.last_idempotent
        info = self.log.append_as_leader(memoryview(bytearray(sent)), 0, self.clock.now_ms())
        assert info.duplicate, "a retried idempotent batch was written again"
        assert (info.first_offset, info.last_offset) == (first, first + count - 1)

    @rule(kind=st.sampled_from(["crc", "partial", "bad-length"]), position=st.integers(0, 10_000))
    def append_invalid(self, kind: str, position: int) -> None:
        values = self._values(2)
        now = self.clock.now_ms()
        batch = build_batch([(None, v, (), now) for v in values])
        if kind == "crc":
            body = 61 + position % (len(batch) - 61)
            batch[body] ^= 0x01
        elif kind == "partial":
            batch = batch[: 12 + position % (len(batch) - 12)]
        else:  # a batch length pointing past the end of the request
            batch[8:12] = (len(batch) + 1 + position % 100).to_bytes(4, "big")
        before = (self.log.log_start_offset, self.log.log_end_offset, self.log.size_bytes)
        with pytest.raises((StorageError, CorruptRecordError, InvalidRecordError)):
            self.log.append_as_leader(memoryview(batch), 0, now)
        after = (self.log.log_start_offset, self.log.log_end_offset, self.log.size_bytes)
        assert after == before, f"refused {kind} batch changed the log: {before} -> {after}"

    @rule(cut=st.integers(12, 10_000))
    def append_with_partial_tail(self, cut: int) -> None:
        """A whole batch followed by the first bytes of another: the whole batch is appended
        and the partial one is dropped (Kafka trims a request's invalid trailing bytes)."""
        values = self._values(2)
        now = self.clock.now_ms()
        batch = build_batch([(None, v, (), now) for v in values])
        whole = len(batch)
        batch += batch[: 12 + cut % (whole - 12)]
        size_before = self.log.size_bytes
        info = self.log.append_as_leader(memoryview(batch), 0, now)
        self._accept(info.first_offset, values, [now, now])
        assert self.log.size_bytes - size_before == whole, "partial batch bytes were written"

    # -- time, segments, removal ---------------------------------------------------------------

    @rule(ms=st.integers(0, 2 * RETENTION_MS))
    def advance_time(self, ms: int) -> None:
        self.clock.advance(ms)

    @rule()
    def roll(self) -> None:
        self.log.roll(self.clock.now_ms())

    @rule()
    def retention(self) -> None:
        now = self.clock.now_ms()
        self.log.delete_old_segments(now)
        new_start = self.log.log_start_offset
        assert new_start >= self.start, f"retention moved the log start back to {new_start}"
        recent = [o for o, (_, ts) in self.records.items() if now - ts <= RETENTION_MS]
        assert all(o >= new_start for o in recent), (
            f"retention removed records within retention.ms (start {new_start}, "
            f"recent offsets from {min(recent)})")
        self._advance_start(new_start)

    @rule(k=st.integers(0, 20))
    def delete_records(self, k: int) -> None:
        target = min(self.start + k, self.end)
        self.log.maybe_increment_log_start_offset(target)
        assert self.log.log_start_offset == max(self.start, target)
        self._advance_start(self.log.log_start_offset)

    def _advance_start(self, new_start: int) -> None:
        for o in [o for o in self.records if o < new_start]:
            del self.records[o]
        self.start = new_start
        if self.last_idempotent is not None and self.last_idempotent[1] < new_start:
            self.last_idempotent = None

    @rule(k=st.integers(0, 6))
    def truncate(self, k: int) -> None:
        """To the start of the k-th last batch (a follower's truncation point is always a
        batch boundary), never below the log start."""
        bounds = [o for o in self.batch_starts if o >= self.start] + [self.end]
        target = bounds[max(0, len(bounds) - 1 - k)]
        self.log.truncate_to(target)
        assert self.log.log_end_offset == target
        self._drop_from(target)

    # -- durability ----------------------------------------------------------------------------

    @rule()
    def flush(self) -> None:
        self.log.flush(None, self.clock.now_ms())
        assert self.log.recovery_point == self.end
        self.checkpointed_rp = self.log.recovery_point  # the log manager's next checkpoint

    @precondition(lambda self: self.log.unflushed_messages > 0)
    @rule()
    def flush_fails(self) -> None:
        """The next file sync fails: the flush must raise and not move the recovery point
        (unless it had nothing to sync, e.g. the unflushed offsets hold no bytes)."""
        before = self.log.recovery_point
        self.fs.fail_syncs = 1
        try:
            self.log.flush(None, self.clock.now_ms())
        except OSError:
            assert self.log.recovery_point == before, "recovery point advanced over a failed fsync"
        else:
            assert self.fs.fail_syncs == 1, "a failed fsync went unnoticed"
            self.checkpointed_rp = self.log.recovery_point
        finally:
            self.fs.fail_syncs = 0

    @rule()
    def clean_restart(self) -> None:
        self.log.flush(None, self.clock.now_ms())
        rp = self.log.recovery_point
        self.log.close()
        self.log = self._open(clean=True, recovery_point=rp, log_start=self.start)
        self.checkpointed_rp = rp

    @rule()
    def crash(self) -> None:
        self._crash()
        self.log = self._open(clean=False, recovery_point=self.checkpointed_rp,
                              log_start=self.start)

    @rule(torn=st.sampled_from([0.0, 0.3, 0.5, 0.99, 1.0]))
    def power_failure(self, torn: float) -> None:
        self._crash()
        self.fs.power_loss(self.dir, torn)
        self.log = self._open(clean=False, recovery_point=self.checkpointed_rp,
                              log_start=self.start)
        end = self.log.log_end_offset
        rp = self.checkpointed_rp
        assert end >= rp, f"flushed records lost: log end {end} < recovery point {rp}"
        assert end <= self.end, f"log end {end} beyond anything acknowledged ({self.end})"
        survived = self._read_all()
        for offset, value in survived.items():
            assert self.records[offset][0] == value, f"offset {offset} changed by recovery"
        lost_flushed = [o for o in self.records if o < rp and o not in survived]
        assert not lost_flushed, f"flushed offsets {lost_flushed[:10]} lost (recovery point {rp})"
        # Unflushed records may be gone: past the new end their offsets may be reused; below
        # it (a segment whose data was lost before a later, surviving one) they stay unused.
        lost = [o for o in self.records if o < end and o not in survived]
        for o in lost:
            del self.records[o]
        if currently_in_test_context():  # also run outside Hypothesis, as a plain sequence
            event("power failure lost records" if end < self.end or lost else
                  "power failure lost nothing")
        self._drop_from(end)

    # -- what must hold after every step --------------------------------------------------------

    @invariant()
    def matches_model(self) -> None:
        log = self.log
        assert log.log_start_offset == self.start, (log.log_start_offset, self.start)
        assert log.log_end_offset == self.end, (log.log_end_offset, self.end)
        assert log.recovery_point <= log.log_end_offset
        got = self._read_all()
        want = {o: v for o, (v, _) in self.records.items() if o >= self.start}
        if got != want:
            missing = sorted(set(want) - set(got))[:10]
            extra = sorted(set(got) - set(want))[:10]
            changed = sorted(o for o in set(got) & set(want) if got[o] != want[o])[:10]
            raise AssertionError(f"log differs from the model: missing {missing}, "
                                 f"unexpected {extra}, changed {changed}")


FAST = settings(max_examples=100, stateful_step_count=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SLOW = settings(max_examples=1500, stateful_step_count=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_flushed_segment_survives_crash_then_power_failure() -> None:
    """Found by the model: a segment rolled just before a kill -9 is recovered, flushed and
    checkpointed after the restart, yet its directory entry was never synced (the roll's
    directory sync was still pending at the crash), so a later power failure loses records
    below the recovery point."""
    machine = LogMachine()
    try:
        machine.append_idempotent(count=1)
        machine.roll()
        machine.append_idempotent(count=1)
        machine.crash()
        machine.flush()
        machine.power_failure(torn=0.0)
        machine.matches_model()
    finally:
        machine.teardown()


def test_segment_created_after_a_roll_survives_power_failure() -> None:
    """Found by the model: a roll marks the directory for a sync and the next flush syncs it,
    but the new segment's file is only created by the first append after that flush; its
    directory entry is never synced, so a power failure loses flushed records."""
    machine = LogMachine()
    try:
        machine.append_idempotent(count=1)
        machine.roll()
        machine.flush()
        machine.append_idempotent(count=1)
        machine.flush()
        machine.power_failure(torn=0.0)
        machine.matches_model()
    finally:
        machine.teardown()


def test_truncation_after_a_power_failure_emptied_an_earlier_segment() -> None:
    """Found by the model: a power failure empties the first segment (never flushed) but
    keeps a later, empty one, so the log ends at that segment's base with offsets below it
    unused; truncating to the log start then read the log end back from the emptied segment
    (0) instead of setting it to the target, leaving the end below the log start."""
    machine = LogMachine()
    try:
        machine.append_idempotent(count=1)
        machine.append_idempotent(count=1)
        machine.roll()
        machine.append(age_ms=0, count=1)
        machine.delete_records(k=1)
        machine.power_failure(torn=0.0)
        machine.truncate(k=1)
        machine.matches_model()
    finally:
        machine.teardown()


def test_retention_after_truncation_keeps_recent_records() -> None:
    """Found by the model: after a truncation a segment's largest timestamp is taken from its
    time index alone, which lacks the batches appended since its last entry, so retention
    deletes a segment holding records well within retention.ms."""
    machine = LogMachine()
    try:
        for _ in range(3):
            machine.append_idempotent(count=1)
        machine.append(count=1, age_ms=0)
        machine.advance_time(RETENTION_MS * 2)
        machine.append(count=5, age_ms=313)
        machine.append_idempotent(count=1)
        machine.delete_records(k=5)
        machine.truncate(k=2)
        machine.retention()
        machine.matches_model()
    finally:
        machine.teardown()


def test_failed_flush_keeps_the_directory_sync_pending() -> None:
    """Found by the model: a flush whose fsync fails must leave the pending directory sync
    pending, or the next successful flush advances the recovery point over a segment file
    whose directory entry was never synced."""
    machine = LogMachine()
    try:
        machine.append_idempotent(count=1)
        machine.flush_fails()
        machine.flush_fails()
        machine.flush()
        machine.power_failure(torn=0.0)
        machine.matches_model()
    finally:
        machine.teardown()


def test_log_matches_model() -> None:
    run_state_machine_as_test(LogMachine, settings=FAST)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_log_matches_model_long() -> None:
    run_state_machine_as_test(LogMachine, settings=SLOW)
