"""Controller rules that protect data across a topic's life: names, internal topics, and a
metadata-log write that fails."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

from brook.env import SYSTEM_CLOCK, Rng
from brook.metadata.controller.quorum_controller import BrokerEndpointSpec, QuorumController
from brook.metadata.controller.replication_control import ControllerError, CreatedTopic, TopicSpec
from brook.metadata.controller.topic_names import validate_topic_name
from brook.protocol.errors import ErrorCode
from brook.raft.local import LocalRaftClient, MetadataLogError


def make(tmp_path: Path, faults: list[BaseException] | None = None) -> QuorumController:
    raft = LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms())
    c = QuorumController(raft, SYSTEM_CLOCK, Rng(7), 1, 1,
                         fatal_fault_handler=None if faults is None else faults.append)
    c.load()
    asyncio.run(c.register_broker(1, bytes(16), [BrokerEndpointSpec("PLAINTEXT", "h", 9001, 0)],
                                  rack=None))
    return c


def create(c: QuorumController, name: str) -> CreatedTopic | ControllerError:
    [result] = asyncio.run(c.create_topics([TopicSpec(name)], validate_only=False))
    return result


@pytest.mark.parametrize("name", ["t\n", "t\r\n", "\nt", "t\t", "t x", "t\u00e9"])
def test_names_are_matched_whole(tmp_path: Path, name: str) -> None:
    assert validate_topic_name(name) is not None
    result = create(make(tmp_path), name)
    assert isinstance(result, ControllerError)
    assert result.code == ErrorCode.INVALID_TOPIC_EXCEPTION


@pytest.mark.parametrize("name", ["__consumer_offsets", "__transaction_state"])
def test_internal_topics_cannot_be_deleted(tmp_path: Path, name: str) -> None:
    c = make(tmp_path)
    created = create(c, name)
    assert isinstance(created, CreatedTopic)
    [(_, _, err)] = asyncio.run(c.delete_topics([(name, None)]))
    assert err is not None and err.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    [(_, _, err)] = asyncio.run(c.delete_topics([(None, created.topic_id)]))
    assert err is not None and err.code == ErrorCode.INVALID_TOPIC_EXCEPTION
    assert name in c.image.topics.by_name


def test_the_metadata_topic_name_cannot_be_created(tmp_path: Path) -> None:
    result = create(make(tmp_path), "__cluster_metadata")
    assert isinstance(result, ControllerError)
    assert result.code == ErrorCode.TOPIC_AUTHORIZATION_FAILED


def _failing_flush(*_args: object) -> None:
    raise OSError(errno.EIO, "Input/output error")


def test_raft_client_cuts_a_failed_append_and_refuses_more(tmp_path: Path) -> None:
    raft = LocalRaftClient(tmp_path, 1_000)
    assert asyncio.run(raft.append([b"one"], 1_000)) == 0
    raft.log.flush = _failing_flush  # type: ignore[method-assign]
    with pytest.raises(MetadataLogError):
        asyncio.run(raft.append([b"two"], 1_000))
    assert raft.end_offset == 1
    with pytest.raises(MetadataLogError):
        asyncio.run(raft.append([b"three"], 1_000))
    raft.close()
    reopened = LocalRaftClient(tmp_path, 2_000)
    assert [v for _, v in reopened.read_committed()] == [b"one"]
    reopened.close()


def test_controller_treats_a_failed_metadata_write_as_fatal(tmp_path: Path) -> None:
    """The fault handler runs (in the broker it halts the process), the image does not change,
    and a restart replays only what was durable."""
    faults: list[BaseException] = []
    c = make(tmp_path, faults)
    assert isinstance(create(c, "before"), CreatedTopic)
    c.raft.log.flush = _failing_flush  # type: ignore[method-assign]
    with pytest.raises(MetadataLogError):
        create(c, "lost")
    assert len(faults) == 1 and isinstance(faults[0], MetadataLogError)
    assert "lost" not in c.image.topics.by_name
    c.raft.close()
    again = QuorumController(LocalRaftClient(tmp_path, SYSTEM_CLOCK.now_ms()), SYSTEM_CLOCK,
                             Rng(1), 1, 1, fatal_fault_handler=faults.append)
    image = again.load()
    assert "before" in image.topics.by_name and "lost" not in image.topics.by_name


def test_cli_refuses_a_name_with_a_trailing_newline(capsys: pytest.CaptureFixture[str]) -> None:
    from brook.cli import main

    code = main.main(["topics", "--create", "--topic", "trailing\n",
                      "--bootstrap-server", "127.0.0.1:1"])
    assert code == 2 and "is illegal" in capsys.readouterr().err
