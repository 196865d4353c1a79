"""brook.records: the RecordBatch v2 format (header, CRC32C, compression, records).

Pure: imports only the standard library, ``crc32c`` and ``cramjam``. The broker's produce
path uses ``batch`` (header parse, CRC check, in-place patching), ``validate`` (one walk over
the records to check their framing; compiled by mypyc when available), ``compression`` for
compressed batches and ``recompress`` for a topic's ``compression.type``; ``record`` serves
the places that need keys and values (log cleaner, CLI, connectors, tests).
"""

from brook.records.batch import BatchHeader, iter_batches, read_batch_header, validate_batch
from brook.records.compression import CompressionType
from brook.records.errors import CorruptRecordError, InvalidRecordError
from brook.records.record import Record, RecordInput, build_batch, decode_records

__all__ = [
    "BatchHeader",
    "CompressionType",
    "CorruptRecordError",
    "InvalidRecordError",
    "Record",
    "RecordInput",
    "build_batch",
    "decode_records",
    "iter_batches",
    "read_batch_header",
    "validate_batch",
]
