"""FindCoordinator by key type: groups are served, transactions are refused for good.

brook has no transaction coordinator. Refusing with COORDINATOR_NOT_AVAILABLE (retriable)
made a transactional producer — Kafka Streams under ``exactly_once_v2`` — retry until its
``max.block.ms`` and then retry the task for ``task.timeout.ms``: a hang, not an error.
"""

from __future__ import annotations

from pathlib import Path

from brook.broker.group_coordinator_wiring import NO_TRANSACTION_COORDINATOR
from brook.broker.handlers import find_coordinator
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.find_coordinator import FindCoordinatorRequest
from tests.unit.broker.test_handlers_services import Setup, _run


def test_a_transaction_coordinator_lookup_fails_with_a_non_retriable_error(
    tmp_path: Path,
) -> None:
    async def body(s: Setup) -> None:
        await s.start()
        group = await s.call(find_coordinator,
                             FindCoordinatorRequest(key_type=0, coordinator_keys=["g"]))
        assert group.coordinators[0].error_code == ErrorCode.NONE
        assert group.coordinators[0].node_id == 1
        for version in (1, 3, 4):
            request = FindCoordinatorRequest(key="txn-1", key_type=1)
            if version >= 4:
                request = FindCoordinatorRequest(key_type=1, coordinator_keys=["txn-1"])
            r = await s.call(find_coordinator, request, version)
            answer = r.coordinators[0] if version >= 4 else r
            assert answer.error_code == ErrorCode.UNSUPPORTED_VERSION, (version, answer)
            assert not ErrorCode.UNSUPPORTED_VERSION.retriable
            assert answer.error_message == NO_TRANSACTION_COORDINATOR
    _run(tmp_path, body)
