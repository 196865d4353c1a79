"""Storage and validation exceptions map to Kafka's codes in one table, for every caller."""

from __future__ import annotations

from brook.broker.errors import error_code_for
from brook.protocol.errors import ErrorCode
from brook.storage.errors import LogDirError
from brook.storage.log_validator import InvalidTxnStateError, UnsupportedCompressionTypeError


def test_validation_errors_keep_their_own_codes() -> None:
    assert error_code_for(UnsupportedCompressionTypeError("codec 7")) == (
        ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
    )
    assert error_code_for(InvalidTxnStateError("transactional")) == ErrorCode.INVALID_TXN_STATE
    assert error_code_for(LogDirError("disk")) == ErrorCode.KAFKA_STORAGE_ERROR
