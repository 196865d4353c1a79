"""Errors raised while reading or building RecordBatch v2 data.

They live here rather than in ``brook.storage`` because ``brook.records`` is a pure leaf:
storage, replication and the CLI all decode batches, and all of them need the same two
exception types without records importing any of them.
"""

from __future__ import annotations


class CorruptRecordError(Exception):
    """The bytes are not a well-formed batch: bad magic, impossible length, CRC mismatch,
    truncated record data. Kafka's ``CorruptRecordException``; the broker answers
    ``CORRUPT_MESSAGE`` (2), and log recovery truncates the segment at such a batch."""


class InvalidRecordError(Exception):
    """The bytes are well formed but the content breaks a rule: a batch from a producer whose
    record count disagrees with its offset range, a decompressed size over the limit, an
    unknown compression codec. Kafka's ``InvalidRecordException``; the broker answers
    ``INVALID_RECORD`` (87)."""


class RecordError(InvalidRecordError):
    """An :class:`InvalidRecordError` that names the record (its index in the batch), for
    Produce v8+'s ``record_errors``."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"record {index}: {message}")
        self.index = index
        self.reason = message
