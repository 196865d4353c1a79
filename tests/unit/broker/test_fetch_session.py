"""Incremental fetch sessions (KIP-227) through the real Fetch handler."""

from __future__ import annotations

import asyncio
from typing import Any

from brook.broker.fetch_session import FetchSessionCache
from brook.env import SYSTEM_CLOCK
from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.create_topics import CreateTopicsRequest
from brook.protocol.messages.fetch import FetchRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from tests.unit.broker.conftest import FakeTransport, Harness, decode_response, encode_request, feed

V = 12  # flexible, topic names (ids come with v13)


def _wait(harness: Harness, tr: FakeTransport, n: int) -> None:
    async def go() -> None:
        for _ in range(400):
            if len(tr.frames()) >= n:
                return
            await asyncio.sleep(0.005)
        raise AssertionError("no response")

    harness.run(go())


def _fetch(
    session_id: int, epoch: int, parts: dict[int, int], forgotten: tuple[int, ...] = ()
) -> FetchRequest:
    return FetchRequest(
        max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=session_id,
        session_epoch=epoch,
        topics=[FetchRequest.FetchTopic(topic="s", partitions=[
            FetchRequest.FetchPartition(partition=p, fetch_offset=o, partition_max_bytes=1 << 20)
            for p, o in parts.items()])] if parts else [],
        forgotten_topics_data=[FetchRequest.ForgottenTopic(topic="s", partitions=list(forgotten))]
        if forgotten else [],
    )


def _produce(partition: int) -> ProduceRequest:
    batch = build_batch([(b"k", b"v", (), 1_700_000_000_000)])
    return ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name="s", partition_data=[ProduceRequest.PartitionProduceData(index=partition,
                                                                      records=bytes(batch))])])


def _parts(resp: Any) -> dict[int, Any]:
    return {p.partition_index: p for t in resp.responses for p in t.partitions}


def test_session_lifecycle(harness: Harness) -> None:
    conn, tr = harness.connect()
    cid = 0

    def call(req: Any, version: int) -> Any:
        nonlocal cid
        cid += 1
        before = len(tr.frames())
        feed(conn, encode_request(req, version, cid))
        _wait(harness, tr, before + 1)
        return decode_response(tr.frames()[-1], type(req).API_KEY, version)[1]

    call(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="s", num_partitions=3, replication_factor=1)], timeout_ms=1000), 7)
    call(_produce(0), 9)

    full = call(_fetch(0, 0, {0: 0, 1: 0, 2: 0}), V)
    assert full.error_code == ErrorCode.NONE and full.session_id > 0
    sid = full.session_id
    assert set(_parts(full)) == {0, 1, 2}
    assert len(_parts(full)[0].records) > 0

    # Nothing changed since: an incremental fetch (position of partition 0 moved) returns nothing
    # new for 1 and 2 and no records for 0.
    inc = call(_fetch(sid, 1, {0: 1}), V)
    assert inc.error_code == ErrorCode.NONE and inc.session_id == sid
    assert set(_parts(inc)) <= {0}

    call(_produce(2), 9)
    inc2 = call(_fetch(sid, 2, {}), V)
    assert set(_parts(inc2)) == {2}
    assert _parts(inc2)[2].high_watermark == 1

    stale = call(_fetch(sid, 2, {}), V)
    assert stale.error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH

    # Forgetting partition 2, then producing to it, leaves it out of the session.
    call(_fetch(sid, 3, {}, forgotten=(2,)), V)
    call(_produce(2), 9)
    inc3 = call(_fetch(sid, 4, {}), V)
    assert 2 not in _parts(inc3)

    unknown = call(_fetch(sid + 1000, 1, {}), V)
    assert unknown.error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND

    closed = call(_fetch(sid, -1, {0: 0}), V)  # close the session, do a sessionless fetch
    assert closed.error_code == ErrorCode.NONE and closed.session_id == 0
    assert harness.node.fetch_sessions.get(sid) is None


def test_offset_out_of_range_and_unknown_topic(harness: Harness) -> None:
    conn, tr = harness.connect()
    feed(conn, encode_request(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="s", num_partitions=1, replication_factor=1)], timeout_ms=1000), 7, 1))
    _wait(harness, tr, 1)
    feed(conn, encode_request(_fetch(0, -1, {0: 5}), V, 2))
    _wait(harness, tr, 2)
    _, resp = decode_response(tr.frames()[1], ApiKey.FETCH, V)
    assert _parts(resp)[0].error_code == ErrorCode.OFFSET_OUT_OF_RANGE
    req = _fetch(0, -1, {0: 0})
    req.topics[0].topic = "nope"
    feed(conn, encode_request(req, V, 3))
    _wait(harness, tr, 3)
    _, resp = decode_response(tr.frames()[2], ApiKey.FETCH, V)
    assert _parts(resp)[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_a_full_fetch_closes_the_session_it_names_and_opens_a_new_one(harness: Harness) -> None:
    """As Kafka's FetchManager: epoch 0 with a session id is a full fetch that closes that
    session, existing or not. A Java consumer sends it after a session error; answering it
    with a session error again (as an incremental fetch would be) loops the client forever —
    which is what every Java consumer did after a broker restart forgot its sessions."""
    conn, tr = harness.connect()
    cid = 0

    def call(req: Any, version: int) -> Any:
        nonlocal cid
        cid += 1
        before = len(tr.frames())
        feed(conn, encode_request(req, version, cid))
        _wait(harness, tr, before + 1)
        return decode_response(tr.frames()[-1], type(req).API_KEY, version)[1]

    call(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="s", num_partitions=1, replication_factor=1)], timeout_ms=1000), 7)
    call(_produce(0), 9)
    first = call(_fetch(0, 0, {0: 0}), V)
    sid = first.session_id
    call(_fetch(sid, 1, {}), V)

    # The session exists, its epoch is 2: a full fetch naming it replaces it.
    again = call(_fetch(sid, 0, {0: 0}), V)
    assert again.error_code == ErrorCode.NONE
    assert again.session_id not in (0, sid)
    assert len(_parts(again)[0].records) > 0
    assert harness.node.fetch_sessions.get(sid) is None

    # A session this process never had (its predecessor gave it out): the same.
    forgotten = (again.session_id + 7919) % 0x7FFFFFFF + 1
    fresh = call(_fetch(forgotten, 0, {0: 0}), V)
    assert fresh.error_code == ErrorCode.NONE and fresh.session_id not in (0, forgotten)
    assert len(_parts(fresh)[0].records) > 0
    incremental = call(_fetch(fresh.session_id, 1, {}), V)
    assert incremental.error_code == ErrorCode.NONE

    # An incremental epoch needs a session: none is numbered 0.
    assert call(_fetch(0, 1, {0: 0}), V).error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND


def test_session_ids_do_not_start_again_in_a_new_process() -> None:
    """Two caches (a broker before and after a restart) do not hand out the same first ids:
    a client's stale id must not name another client's new session."""
    first = [FetchSessionCache(10, SYSTEM_CLOCK).create({}) for _ in range(2)]
    assert first[0] is not None and first[1] is not None
    assert first[0].session_id != first[1].session_id
    assert first[0].session_id > 0 and first[1].session_id > 0


def test_a_session_serves_only_the_topic_id_usage_it_was_opened_with(harness: Harness) -> None:
    """A Java consumer that rebootstrapped while the broker was down has no topic ids for a
    while: it opens a session by name (v12), then fetches incrementally by id (v13+). Kafka
    answers FETCH_SESSION_TOPIC_ID_ERROR; brook used to add the id-keyed partitions next to
    the name-keyed ones and kept reading the stale entries at their old offsets — answering
    OFFSET_OUT_OF_RANGE once DeleteRecords had passed them, which sent Kafka Streams back to
    the earliest offset of its repartition topic and counted records again."""
    conn, tr = harness.connect()
    cid = 0

    def call(req: Any, version: int) -> Any:
        nonlocal cid
        cid += 1
        before = len(tr.frames())
        feed(conn, encode_request(req, version, cid))
        _wait(harness, tr, before + 1)
        return decode_response(tr.frames()[-1], type(req).API_KEY, version)[1]

    created = call(CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="s", num_partitions=1, replication_factor=1)], timeout_ms=1000), 7)
    topic_id = created.topics[0].topic_id
    call(_produce(0), 9)

    def by_id(session_id: int, epoch: int, offset: int | None) -> FetchRequest:
        return FetchRequest(
            max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=session_id,
            session_epoch=epoch,
            topics=[FetchRequest.FetchTopic(topic_id=topic_id, partitions=[
                FetchRequest.FetchPartition(partition=0, fetch_offset=offset,
                                            partition_max_bytes=1 << 20)])]
            if offset is not None else [])

    by_name = call(_fetch(0, 0, {0: 0}), V)
    assert by_name.error_code == ErrorCode.NONE
    refused = call(by_id(by_name.session_id, 1, 1), 13)
    assert refused.error_code == ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR
    assert refused.responses == []

    # The client's answer to the error: a full fetch by id closing the old session.
    ids = call(by_id(by_name.session_id, 0, 1), 13)
    assert ids.error_code == ErrorCode.NONE and ids.session_id not in (0, by_name.session_id)
    assert harness.node.fetch_sessions.get(by_name.session_id) is None
    assert call(by_id(ids.session_id, 1, None), 13).error_code == ErrorCode.NONE
    assert call(_fetch(ids.session_id, 2, {}), V).error_code == (
        ErrorCode.FETCH_SESSION_TOPIC_ID_ERROR)
    session = harness.node.fetch_sessions.get(ids.session_id)
    assert session is not None and len(session.partitions) == 1
