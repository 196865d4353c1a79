"""The checker of the cluster fault runs must catch each kind of violation planted in an
otherwise clean history, or a green fault run proves nothing."""

from __future__ import annotations

from brook.testing.history import History, record_value

P0 = ("faults", 0)
P1 = ("faults", 1)


def clean() -> History:
    """Two producers over two partitions, read back whole, commits moving forward."""
    h = History()
    layout = {P0: [(0, 0), (1, 0), (0, 1)], P1: [(1, 1), (0, 2), (1, 2)]}
    for partition, records in layout.items():
        for offset, (producer, seq) in enumerate(records):
            h.ack(record_value(producer, seq), partition, offset)
            h.observe(partition, offset, record_value(producer, seq), "consumer 0")
    h.commit_acked(P0, 2)
    h.commit_seen(P0, 2, "consumer 1 fetch", floor=h.commit_floor(P0))
    h.commit_acked(P0, 3)
    for partition, records in layout.items():
        h.final_read(partition, [(o, record_value(p, s)) for o, (p, s) in enumerate(records)])
    return h


def test_a_clean_history_has_no_violations() -> None:
    assert clean().violations() == []


def test_a_lost_acknowledged_record_is_caught() -> None:
    h = clean()
    h.final_read(P1, [(0, record_value(1, 1)), (1, record_value(0, 2))])  # 1:2 at 2 is gone
    problems = h.violations()
    assert any("acknowledged b'1:2'" in p and "missing" in p for p in problems), problems


def test_a_record_moved_to_another_offset_is_caught() -> None:
    h = clean()  # truncated and written again by the producer: same record, new offset
    h.final_read(P1, [(0, record_value(1, 1)), (1, record_value(0, 2)),
                      (3, record_value(1, 2))])
    problems = h.violations()
    assert any("acknowledged b'1:2' at (('faults', 1), 2)" in p for p in problems), problems


def test_a_duplicate_is_caught() -> None:
    h = clean()
    h.final_read(P0, [(0, record_value(0, 0)), (1, record_value(1, 0)),
                      (2, record_value(0, 1)), (3, record_value(0, 1))])
    assert any("twice" in p for p in h.violations())


def test_offset_reuse_across_observations_is_caught() -> None:
    """A consumer read one record at an offset (from a leader that lost it), the final read
    finds another there: the offset held two records."""
    h = clean()
    h.observe(P1, 3, record_value(0, 9), "consumer 1")
    h.final_read(P1, [(0, record_value(1, 1)), (1, record_value(0, 2)),
                      (2, record_value(1, 2)), (3, record_value(1, 7))])
    problems = h.violations()
    assert any("faults-1@3 held b'0:9', then b'1:7'" in p for p in problems), problems


def test_records_out_of_send_order_are_caught() -> None:
    h = clean()
    h.final_read(P0, [(0, record_value(0, 1)), (1, record_value(1, 0)),
                      (2, record_value(0, 0))])
    assert any("after its record" in p for p in h.violations())


def test_a_commit_going_back_is_caught() -> None:
    h = clean()  # acknowledged 3 for P0 above
    h.commit_seen(P0, 2, "final", floor=h.commit_floor(P0))
    assert any("committed offset 2 < 3" in p for p in h.violations())
    lost = clean()  # the group's offset vanished altogether
    lost.commit_seen(P0, -1001, "final", floor=lost.commit_floor(P0))
    assert any("committed offset -1001 < 3" in p for p in lost.violations())


def test_a_fetch_racing_a_commit_is_judged_by_what_was_acknowledged_when_it_was_sent() -> None:
    """Consumer A's commit of 5 is acknowledged while consumer B's fetch is on its way; B's
    answer of 3 is no violation (the floor when B sent was 3), a later fetch of 3 is."""
    h = clean()
    floor_when_sent = h.commit_floor(P0)
    h.commit_acked(P0, 5)
    h.commit_seen(P0, 3, "consumer 1 fetch", floor=floor_when_sent)
    assert h.violations() == []
    h.commit_seen(P0, 3, "consumer 1 fetch", floor=h.commit_floor(P0))
    assert any("committed offset 3 < 5" in p for p in h.violations())


def test_an_ack_at_two_places_is_caught() -> None:
    h = clean()
    h.ack(record_value(0, 0), P1, 7)
    assert any("acknowledged twice" in p for p in h.violations())


def test_a_read_record_that_vanished_from_the_end_is_caught() -> None:
    """A consumer read offset 3 (an uncommitted tail, never acknowledged); the final read
    ends at 2 and nothing was written at 3 again: it was served, then truncated."""
    h = clean()
    h.observe(P0, 3, record_value(2, 0), "consumer 0")
    problems = h.violations()
    assert any("faults-0@3 was read" in p for p in problems), problems
