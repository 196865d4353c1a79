"""Framing, pipelining, ordering and bad input on one connection, over a fake transport."""

from __future__ import annotations

import struct

from brook.protocol.api_keys import ApiKey
from brook.protocol.errors import ErrorCode
from brook.protocol.messages.api_versions import ApiVersionsRequest
from brook.protocol.messages.create_topics import CreateTopicsRequest
from brook.protocol.messages.fetch import FetchRequest
from brook.protocol.messages.metadata import MetadataRequest
from brook.protocol.messages.produce import ProduceRequest
from brook.records.record import build_batch
from tests.unit.broker.conftest import FakeTransport, Harness, decode_response, encode_request, feed


def api_versions(cid: int, version: int = 3) -> bytes:
    return encode_request(ApiVersionsRequest(client_software_name="t",
                                             client_software_version="1"), version, cid)


def test_api_versions_lists_every_handler(harness: Harness) -> None:
    from brook.broker.dispatch import HANDLERS

    conn, tr = harness.connect()
    feed(conn, api_versions(7))
    [frame] = tr.frames()
    cid, resp = decode_response(frame, ApiKey.API_VERSIONS, 3)
    assert cid == 7
    assert resp.error_code == ErrorCode.NONE
    assert {k.api_key for k in resp.api_keys} == set(HANDLERS)
    for k in resp.api_keys:
        assert k.min_version <= k.max_version


def test_pipelined_requests_answered_in_order_even_split_byte_by_byte(harness: Harness) -> None:
    conn, tr = harness.connect()
    data = b"".join(api_versions(cid) for cid in range(1, 6))
    feed(conn, data, chunk=1)
    cids = [decode_response(f, ApiKey.API_VERSIONS, 3)[0] for f in tr.frames()]
    assert cids == [1, 2, 3, 4, 5]
    assert not tr.closed


def test_too_new_api_versions_gets_v0_unsupported_version(harness: Harness) -> None:
    conn, tr = harness.connect()
    frame = api_versions(9, version=3)
    # Rewrite the version to one no broker knows; the body is whatever a future client sends.
    patched = frame[:6] + struct.pack(">h", 99) + frame[8:]
    feed(conn, patched)
    [out] = tr.frames()
    cid, resp = decode_response(out, ApiKey.API_VERSIONS, 0)
    assert cid == 9
    assert resp.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert any(k.api_key == ApiKey.PRODUCE for k in resp.api_keys)
    assert not tr.closed


def test_oversized_request_closes_connection(harness: Harness) -> None:
    conn, tr = harness.connect()
    feed(conn, struct.pack(">i", 2 * 1024 * 1024) + b"\x00" * 16)
    assert tr.closed
    assert tr.frames() == []


def test_negative_size_and_garbage_header_close_connection(harness: Harness) -> None:
    conn, tr = harness.connect()
    feed(conn, struct.pack(">i", -5))
    assert tr.closed
    conn2, tr2 = harness.connect()
    feed(conn2, struct.pack(">i", 10) + b"\x00\x12\x00\x03\x00\x00\x00\x01\xff\xff")
    # api key 18 v3 header is flexible: the client id is read, then tagged fields are missing.
    assert tr2.closed


def test_truncated_request_body_closes_connection_without_raising(harness: Harness) -> None:
    conn, tr = harness.connect()
    whole = encode_request(MetadataRequest(topics=None), 12, 3)
    body = whole[4:-3]  # header intact, body cut short inside the tagged fields
    feed(conn, struct.pack(">i", len(body)) + body)
    assert tr.closed
    assert tr.frames() == []


def test_unknown_api_key_closes_connection(harness: Harness) -> None:
    conn, tr = harness.connect()
    body = struct.pack(">hhih", 999, 0, 1, 1) + b"t"
    feed(conn, struct.pack(">i", len(body)) + body)
    assert tr.closed


def test_large_produce_frame_read_directly_into_its_own_buffer(harness: Harness) -> None:
    conn, tr = harness.connect()
    create = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="big", num_partitions=1, replication_factor=1)], timeout_ms=1000)
    feed(conn, encode_request(create, 7, 1))
    harness.run(_drain_until(tr, 1))
    value = bytes(range(256)) * 800  # 200 KiB: larger than the staging buffer
    batch = build_batch([(b"k", value, (), 1_700_000_000_000)])
    produce = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name="big", partition_data=[ProduceRequest.PartitionProduceData(index=0,
                                                                        records=bytes(batch))])])
    feed(conn, encode_request(produce, 9, 2), chunk=4096)
    frames = tr.frames()
    assert len(frames) == 2, frames
    _, resp = decode_response(frames[1], ApiKey.PRODUCE, 9)
    part = resp.responses[0].partition_responses[0]
    assert part.error_code == ErrorCode.NONE and part.base_offset == 0


async def _drain_until(tr: FakeTransport, frames: int) -> None:
    """Let the loop run until the connection has written ``frames`` responses."""
    import asyncio

    for _ in range(200):
        if len(tr.frames()) >= frames:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {len(tr.frames())} responses written")


def test_waiting_fetch_holds_back_later_responses(harness: Harness) -> None:
    import asyncio

    conn, tr = harness.connect()
    create = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="t1", num_partitions=1, replication_factor=1)], timeout_ms=1000)
    feed(conn, encode_request(create, 7, 1))
    harness.run(_drain_until(tr, 1))
    fetch = FetchRequest(max_wait_ms=200, min_bytes=1, max_bytes=1 << 20, isolation_level=0,
                         session_id=0, session_epoch=-1, topics=[FetchRequest.FetchTopic(
                             topic="t1", partitions=[FetchRequest.FetchPartition(
                                 partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    feed(conn, encode_request(fetch, 11, 2) + encode_request(MetadataRequest(topics=None), 12, 3))
    assert len(tr.frames()) == 1  # only the CreateTopics answer so far
    harness.run(asyncio.sleep(0.4))
    frames = tr.frames()
    assert [decode_response(f, k, v)[0] for f, k, v in zip(
        frames, (ApiKey.CREATE_TOPICS, ApiKey.FETCH, ApiKey.METADATA), (7, 11, 12),
        strict=True)] == [1, 2, 3]
    _, fetched = decode_response(frames[1], ApiKey.FETCH, 11)
    assert fetched.responses[0].partitions[0].error_code == ErrorCode.NONE


def test_produce_wakes_waiting_fetch(harness: Harness) -> None:
    import asyncio

    consumer, ctr = harness.connect()
    producer, ptr = harness.connect()
    create = CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name="wake", num_partitions=1, replication_factor=1)], timeout_ms=1000)
    feed(producer, encode_request(create, 7, 1))
    harness.run(_drain_until(ptr, 1))
    fetch = FetchRequest(max_wait_ms=5000, min_bytes=1, max_bytes=1 << 20, session_id=0,
                         session_epoch=-1, topics=[FetchRequest.FetchTopic(
                             topic="wake", partitions=[FetchRequest.FetchPartition(
                                 partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    feed(consumer, encode_request(fetch, 11, 5))
    harness.run(asyncio.sleep(0.01))
    assert ctr.frames() == []
    batch = build_batch([(b"k", b"v", (), 1_700_000_000_000)])
    produce = ProduceRequest(acks=1, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name="wake", partition_data=[ProduceRequest.PartitionProduceData(index=0,
                                                                         records=bytes(batch))])])
    loop = harness.loop
    start = loop.time()
    feed(producer, encode_request(produce, 9, 2))
    harness.run(asyncio.sleep(0.05))
    [frame] = ctr.frames()
    assert loop.time() - start < 1.0
    _, resp = decode_response(frame, ApiKey.FETCH, 11)
    records = resp.responses[0].partitions[0].records
    assert bytes(records) == bytes(batch[:8]) + bytes(records)[8:]  # offset 0 patched in place
    assert len(records) == len(batch)


def test_config_change_reaches_only_the_changed_topic_log(harness: Harness) -> None:
    import asyncio

    from brook.metadata.controller.configuration_control import ConfigOp
    from brook.metadata.controller.replication_control import TopicSpec

    node = harness.node
    harness.run(node.controller.create_topics([TopicSpec("a", 1, 1), TopicSpec("b", 1, 1)], False))
    harness.run(node.controller.alter_configs(
        [(2, "a", [ConfigOp("retention.ms", "12345")])], False, True))
    harness.run(asyncio.sleep(0))
    part_a = node.replica_manager.get_partition("a", 0)
    part_b = node.replica_manager.get_partition("b", 0)
    assert part_a is not None and part_b is not None
    assert part_a.log.config.retention_ms == 12345
    assert part_b.log.config.retention_ms != 12345
