"""Dispatch, argument errors and the ``topics`` helpers that need no broker."""

from __future__ import annotations

import sys
import types

import pytest
from confluent_kafka import KafkaError, Uuid

from brook.cli import common, main, topics
from brook.cli.common import CliError


def test_no_arguments_prints_usage_and_fails(capsys):
    assert main.main([]) == 2
    assert "usage: brook" in capsys.readouterr().err


def test_help_and_version(capsys):
    assert main.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("topics", "produce", "consume", "up", "broker", "connect"):
        assert f"  {name}" in out
    assert main.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("brook ")


def test_unknown_command(capsys):
    assert main.main(["nope"]) == 2
    assert capsys.readouterr().err.startswith("brook: error: unknown command 'nope'")


def test_delegated_command_gets_remaining_argv(monkeypatch):
    seen = []
    module = types.ModuleType("brook_test_fake_server")
    module.main = lambda argv: seen.append(argv) or 7  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "brook_test_fake_server", module)
    monkeypatch.setitem(main.DELEGATED, "fake", ("brook_test_fake_server", "main", "x"))
    assert main.main(["fake", "--node-id", "1", "--help"]) == 7
    assert seen == [["--node-id", "1", "--help"]]


def test_missing_delegated_module_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(main.DELEGATED, "ghost", ("brook.no_such_package.main", "main", "x"))
    assert main.main(["ghost"]) == 1
    assert (
        capsys.readouterr().err
        == "brook ghost: error: 'brook ghost' is not available in this installation\n"
    )


def test_broken_dependency_inside_a_module_is_not_hidden(monkeypatch):
    monkeypatch.setitem(main.DELEGATED, "broken", ("brook_test_broken_missing", "main", "x"))

    def fake_import(name):
        raise ModuleNotFoundError("No module named 'somedep'", name="somedep")

    monkeypatch.setattr(main.importlib, "import_module", fake_import)
    with pytest.raises(ModuleNotFoundError):
        main.main(["broken"])


def test_aliases_resolve_to_tools(capsys):
    assert main.main(["kafka-topics.sh", "--help"]) == 0
    assert "--bootstrap-server" in capsys.readouterr().out


def test_usage_errors_are_one_line(capsys):
    assert main.main(["produce", "--bootstrap-server", "b:1"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "brook produce: error: the following arguments are required: --topic (see 'brook produce --help')\n"
    )
    assert main.main(["topics", "--list", "--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_topics_requires_exactly_one_action(capsys):
    assert main.main(["topics", "--bootstrap-server", "b:1"]) == 2
    assert "exactly one of --create" in capsys.readouterr().err
    assert main.main(["topics", "--list", "--delete", "--bootstrap-server", "b:1"]) == 2
    assert main.main(["topics", "create", "--describe", "--bootstrap-server", "b:1"]) == 2


def test_topics_positional_and_flag_forms_agree():
    parser = topics.build_parser()
    args = parser.parse_args(["create", "orders", "--partitions", "3"])
    assert topics._action(args) == "create" and args.topic == "orders"
    args = parser.parse_args(["--create", "--topic", "orders"])
    assert topics._action(args) == "create" and args.topic == "orders"
    args = parser.parse_args(["describe", "a", "--topic", "b"])
    with pytest.raises(CliError, match="topic given twice"):
        topics._action(args)


def test_topic_id_is_url_safe_base64():
    assert topics.topic_id_str(Uuid(-1, 5)) == "__________8AAAAAAAAABQ"
    assert topics.topic_id_str(None) == ""


def test_replica_assignment():
    assert topics._parse_assignment("1:2,2:3,3:1") == [[1, 2], [2, 3], [3, 1]]
    with pytest.raises(CliError, match="same replica count"):
        topics._parse_assignment("1:2,3")
    with pytest.raises(CliError, match="must look like"):
        topics._parse_assignment("a:b")


def test_illegal_topic_names_rejected_before_contacting_the_broker(capsys):
    for name in ("bad name", "..", "x" * 250, "slash/y"):
        assert (
            main.main(["topics", "--create", "--topic", name, "--bootstrap-server", "127.0.0.1:1"])
            == 2
        )
        assert "is illegal" in capsys.readouterr().err


class FakeErr:
    def __init__(self, code, text="boom", fatal=False):
        self._code, self._text, self._fatal = code, text, fatal

    def code(self):
        return self._code

    def str(self):
        return self._text

    def fatal(self):
        return self._fatal


def test_connection_watch_fails_after_grace(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(common.time, "monotonic", lambda: now[0])
    watch = common.ConnectionWatch("h:1", grace=4.0)
    watch(
        FakeErr(
            KafkaError._TRANSPORT,
            "h:1/bootstrap: Connect to ipv4#1.2.3.4:1 failed: Connection refused",
        )
    )
    watch(FakeErr(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down"))
    watch.check()
    now[0] += 4.5
    with pytest.raises(
        CliError, match=r"^cannot reach a broker at h:1: Connect to ipv4#1.2.3.4:1 failed"
    ):
        watch.check()
    watch.reset()
    watch.check()


def test_connection_watch_authentication_is_immediate():
    watch = common.ConnectionWatch("h:1")
    watch(FakeErr(KafkaError.SASL_AUTHENTICATION_FAILED, "SASL authentication error: bad password"))
    with pytest.raises(CliError, match="bad password"):
        watch.check()
