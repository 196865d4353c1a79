from __future__ import annotations

import re

import pytest

import brook.records.errors as record_errors
from brook.storage import errors


def test_records_errors_are_re_exported_unchanged() -> None:
    assert errors.CorruptRecordError is record_errors.CorruptRecordError
    assert errors.InvalidRecordError is record_errors.InvalidRecordError


@pytest.mark.parametrize("name", [n for n in errors.__all__ if n.endswith("Error")])
def test_every_error_names_its_kafka_error_code(name: str) -> None:
    doc = getattr(errors, name).__doc__ or ""
    assert re.search(r"\b[A-Z_]{4,}\b.*\(\d+\)", doc.replace("\n", " ")), name


def test_storage_errors_share_a_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls not in (errors.CorruptRecordError, errors.InvalidRecordError):
            assert issubclass(cls, errors.StorageError)


def test_duplicate_sequence_carries_original_offsets() -> None:
    error = errors.DuplicateSequenceError(10, 14, 99)
    assert (error.first_offset, error.last_offset, error.timestamp) == (10, 14, 99)
    assert "10..14" in str(error)


def test_invalid_config_names_the_key() -> None:
    error = errors.InvalidConfigError("retention.ms", "must be at least -1")
    assert (error.key, error.reason) == ("retention.ms", "must be at least -1")
    assert "retention.ms" in str(error)
