"""Record framing checks (``scan_records``): every rule Kafka's record reader enforces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brook.records.batch import HEADER_SIZE
from brook.records.errors import InvalidRecordError
from brook.records.record import build_batch
from brook.records.validate import (
    MIN_RECORD_SIZE,
    RecordError,
    record_timestamp_deltas,
    scan_records,
)
from brook.records.varint import write_varint


def _record(
    *,
    ts_delta: int = 0,
    offset_delta: int = 0,
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    headers: list[tuple[bytes | None, bytes | None]] | None = None,
    length_adjust: int = 0,
    key_length: int | None = None,
    header_count: int | None = None,
) -> bytes:
    """One encoded record, with knobs to break each field."""
    body = bytearray([0])
    write_varint(body, ts_delta)
    write_varint(body, offset_delta)
    for field, forced in ((key, key_length), (value, None)):
        if forced is not None:
            write_varint(body, forced)
            body += field or b""
        elif field is None:
            write_varint(body, -1)
        else:
            write_varint(body, len(field))
            body += field
    hdrs = headers or []
    write_varint(body, len(hdrs) if header_count is None else header_count)
    for hk, hv in hdrs:
        write_varint(body, -1 if hk is None else len(hk))
        body += hk or b""
        write_varint(body, -1 if hv is None else len(hv))
        body += hv or b""
    out = bytearray()
    write_varint(out, len(body) + length_adjust)
    return bytes(out + body)


def _scan(data: bytes, count: int, **kw: bool) -> tuple[int, int]:
    return scan_records(data, 0, len(data), count, **kw)


def test_batches_built_by_the_client_code_scan_clean() -> None:
    records = [(b"k%d" % i, b"x" * i, [("h", b"1"), ("n", None)], 1_000 + 3 * i) for i in range(200)]
    records.append((None, None, [], 900))  # a negative delta, null key and tombstone
    batch = build_batch(records)
    lo, hi = scan_records(memoryview(batch), HEADER_SIZE, len(batch), len(records))
    assert (lo, hi) == (-100, 597)
    deltas = record_timestamp_deltas(batch, HEADER_SIZE, len(batch), len(records))
    assert deltas[:3] == [0, 3, 6] and deltas[-1] == -100


def test_count_larger_than_the_records_present() -> None:
    data = _record() + _record(offset_delta=1)
    with pytest.raises(InvalidRecordError):
        _scan(data + bytes(MIN_RECORD_SIZE), 3)
    with pytest.raises(InvalidRecordError, match="cannot fit"):
        _scan(data, 3)


def test_count_smaller_than_the_records_present() -> None:
    data = _record() + _record(offset_delta=1)
    with pytest.raises(InvalidRecordError, match="remain after the last"):
        _scan(data, 1)


@pytest.mark.parametrize("adjust", [-1, 1, -100])
def test_record_length_must_match_its_contents(adjust: int) -> None:
    assert _scan(_record(value=b"value") + _record(offset_delta=1), 2) == (0, 0)
    data = _record(value=b"value", length_adjust=adjust) + _record(offset_delta=1)
    with pytest.raises(RecordError) as info:
        _scan(data, 2)
    assert info.value.index == 0


def test_offset_deltas_must_be_consecutive_from_zero() -> None:
    data = _record(offset_delta=0) + _record(offset_delta=2) + _record(offset_delta=1)
    with pytest.raises(RecordError, match="offset delta 2 where 1") as info:
        _scan(data, 3)
    assert info.value.index == 1
    with pytest.raises(RecordError):
        _scan(_record(offset_delta=1), 1)


@pytest.mark.parametrize("key_length", [-2, 50])
def test_key_length_out_of_range(key_length: int) -> None:
    with pytest.raises(RecordError):
        _scan(_record(key_length=key_length), 1)


def test_headers_framing() -> None:
    assert _scan(_record(headers=[(b"a", b"b"), (b"c", None)]), 1) == (0, 0)
    with pytest.raises(RecordError, match="header key"):
        _scan(_record(headers=[(None, b"b")]), 1)
    with pytest.raises(RecordError, match="header count"):
        _scan(_record(headers=[(b"a", b"b")], header_count=-1), 1)
    with pytest.raises(RecordError, match="header count"):
        _scan(_record(headers=[(b"a", b"b")], header_count=1000), 1)
    with pytest.raises(RecordError):
        _scan(_record(headers=[(b"a", b"b")], header_count=2), 1)


def test_overlong_varint() -> None:
    data = bytes([0x80] * 11) + bytes(10)
    with pytest.raises(RecordError, match="longer than 10 bytes"):
        _scan(data, 1)


def test_required_keys() -> None:
    assert _scan(_record(key=None), 1) == (0, 0)
    with pytest.raises(RecordError, match="without key"):
        _scan(_record(key=None), 1, require_keys=True)


def test_multi_byte_fields() -> None:
    data = b"".join(
        _record(ts_delta=-70_000 * i, offset_delta=i, key=b"k" * 200, value=b"v" * 5000)
        for i in range(70)
    )
    assert _scan(data, 70) == (-70_000 * 69, 0)


def test_record_running_past_the_buffer_is_refused_not_indexerror() -> None:
    data = _record(value=b"value")
    for cut in range(1, len(data)):
        with pytest.raises(InvalidRecordError):
            scan_records(data[:cut], 0, cut, 1)


def _interpreted() -> ModuleType:
    """``brook.records.validate`` loaded from its source, whether or not the compiled
    extension (``tools/build_accel``) is what ``import`` gives."""
    import importlib.util

    import brook.records

    path = Path(brook.records.__file__).with_name("validate.py")
    spec = importlib.util.spec_from_file_location("brook_records_validate_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SOURCE = _interpreted()


def _outcome(scan: Callable[..., tuple[int, int]], data: bytes, count: int) -> object:
    try:
        return scan(data, 0, len(data), count)
    except RecordError as exc:
        return ("record", exc.index, exc.reason)
    except InvalidRecordError as exc:
        return ("batch", str(exc))


@settings(max_examples=400, deadline=None)
@given(
    count=st.integers(0, 12),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
    claimed=st.integers(-1, 14),
)
def test_loaded_module_agrees_with_the_source(
    count: int, flips: list[tuple[int, int]], claimed: int
) -> None:
    """The compiled build (if present) and the interpreted source give the same answer on
    valid and mutated record sections alike, and never raise anything but record errors."""
    data = bytearray(
        b"".join(
            _record(offset_delta=i, ts_delta=(i * 997) % 300 - 150, key=b"k" * (i * 13 % 90),
                    headers=[(b"h", b"v" * i)] if i % 3 == 0 else None)
            for i in range(count)
        )
    )
    for where, byte in flips:
        if data:
            data[where % len(data)] = byte
    assert _outcome(scan_records, bytes(data), claimed) == _outcome(
        _SOURCE.scan_records, bytes(data), claimed
    )


def test_header_key_must_be_utf8() -> None:
    with pytest.raises(RecordError, match="UTF-8"):
        _scan(_record(headers=[(b"\xff\x80", b"v")]), 1)
