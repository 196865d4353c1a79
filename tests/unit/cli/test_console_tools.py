"""Line reader, formatter and option rules of ``brook produce`` / ``brook consume``."""

from __future__ import annotations

import argparse

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
)

from brook.cli import console_consumer as cc
from brook.cli import console_producer as cp
from brook.cli.client_config import ClientConfig
from brook.cli.common import CliError

# --- line reader ----------------------------------------------------------------------------


def reader(**props: str) -> cp.LineReader:
    return cp.LineReader.from_properties(props)


def test_plain_lines_are_values():
    assert reader().parse("hello\tworld", 1) == (None, b"hello\tworld", [])


def test_key_with_custom_separator_splits_at_first():
    r = reader(**{"parse.key": "true", "key.separator": ":"})
    assert r.parse("k:v:w", 1) == (b"k", b"v:w", [])
    assert r.parse(":v", 1) == (b"", b"v", [])
    assert r.parse("k:", 1) == (b"k", b"", [])


def test_default_key_separator_is_tab():
    assert reader(**{"parse.key": "TRUE"}).parse("k\tv", 1) == (b"k", b"v", [])


def test_missing_key_separator():
    r = reader(**{"parse.key": "true", "key.separator": ":"})
    with pytest.raises(cp.LineError, match="No key separator found on line number 7: 'novalue'"):
        r.parse("novalue", 7)
    lenient = reader(**{"parse.key": "true", "key.separator": ":", "ignore.error": "true"})
    assert lenient.parse("novalue", 7) == (None, b"novalue", [])


def test_headers_key_and_value():
    r = reader(**{"parse.key": "true", "parse.headers": "true"})
    assert r.parse("h1:v1,h2:v2\tkey\tvalue", 1) == (
        b"key",
        b"value",
        [("h1", b"v1"), ("h2", b"v2")],
    )


def test_header_value_may_contain_key_separator():
    r = reader(**{"parse.headers": "true"})
    assert r.parse("h:a:b\tv", 1) == (None, b"v", [("h", b"a:b")])


def test_custom_header_delimiters():
    r = reader(
        **{
            "parse.headers": "true",
            "headers.delimiter": "|",
            "headers.separator": ";",
            "headers.key.separator": "=",
        }
    )
    assert r.parse("a=1;b=2|value", 1) == (None, b"value", [("a", b"1"), ("b", b"2")])


def test_header_errors():
    r = reader(**{"parse.headers": "true"})
    with pytest.raises(cp.LineError, match="No headers delimiter found on line number 3"):
        r.parse("no delimiter", 3)
    with pytest.raises(cp.LineError, match="No header key separator found in pair 'bad'"):
        r.parse("bad\tvalue", 1)
    lenient = reader(**{"parse.headers": "true", "ignore.error": "true"})
    assert lenient.parse("bad\tvalue", 1) == (None, b"value", [("bad", None)])


def test_null_marker():
    r = reader(**{"parse.key": "true", "parse.headers": "true", "null.marker": "<null>"})
    assert r.parse("<null>\t<null>\t<null>", 1) == (None, None, [])
    assert r.parse("h:<null>\tk\tv", 1) == (b"k", b"v", [("h", None)])
    with pytest.raises(cp.LineError, match="Header keys should not be equal to the null marker"):
        r.parse("<null>:x\tk\tv", 1)


def test_reader_property_validation():
    with pytest.raises(CliError, match=r"null\.marker must differ from key\.separator"):
        reader(**{"key.separator": "N", "null.marker": "N"})
    with pytest.raises(CliError, match="must not be empty"):
        reader(**{"key.separator": ""})
    with pytest.raises(CliError, match="must differ"):
        reader(**{"parse.headers": "true", "headers.delimiter": ",", "headers.separator": ","})


def test_non_utf8_bytes_survive():
    line = b"k:\xff\xfe".decode("utf-8", "surrogateescape")
    assert reader(**{"parse.key": "true", "key.separator": ":"}).parse(line, 1) == (
        b"k",
        b"\xff\xfe",
        [],
    )


def test_producer_flags_map_to_client_properties():
    args = cp.build_parser().parse_args(
        [
            "--topic",
            "t",
            "--producer-property",
            "acks=1",
            "--producer-property",
            "linger.ms=9",
            "--request-required-acks",
            "all",
            "--compression-codec",
            "--batch-size",
            "100",
        ]
    )
    assert cp.producer_properties(args) == {
        "acks": "all",
        "linger.ms": "9",
        "compression.type": "gzip",
        "batch.size": "100",
    }
    args = cp.build_parser().parse_args(
        ["--topic", "t", "--compression-codec", "zstd", "--timeout", "0"]
    )
    assert cp.producer_properties(args) == {"compression.type": "zstd", "linger.ms": "0"}


def test_reader_properties_from_file_and_flags(tmp_path):
    f = tmp_path / "reader.properties"
    f.write_text("parse.key=true\nkey.separator=:\n")
    args = cp.build_parser().parse_args(
        ["--topic", "t", "--reader-config", str(f), "--property", "key.separator=|"]
    )
    assert cp.reader_properties(args) == {"parse.key": "true", "key.separator": "|"}


# --- formatter ------------------------------------------------------------------------------


class Msg:
    def __init__(
        self,
        key=b"k",
        value=b"v",
        headers=None,
        ts=(TIMESTAMP_CREATE_TIME, 1700),
        partition=2,
        offset=42,
    ):
        self._key, self._value, self._headers = key, value, headers
        self._ts, self._partition, self._offset = ts, partition, offset

    def key(self):
        return self._key

    def value(self):
        return self._value

    def headers(self):
        return self._headers

    def timestamp(self):
        return self._ts

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset


def fmt(**props: str) -> cc.Formatter:
    return cc.Formatter.from_properties(props)


def test_default_prints_value_only():
    assert fmt().format(Msg()) == b"v\n"


def test_all_columns_in_script_order():
    f = fmt(
        **{
            p: "true"
            for p in (
                "print.timestamp",
                "print.partition",
                "print.offset",
                "print.headers",
                "print.key",
            )
        }
    )
    msg = Msg(headers=[("a", b"1"), ("b", None)])
    assert f.format(msg) == b"CreateTime:1700\tPartition:2\tOffset:42\ta:1,b:null\tk\tv\n"


def test_timestamp_types_and_no_headers():
    f = fmt(**{"print.timestamp": "true", "print.headers": "true"})
    assert f.format(Msg(ts=(TIMESTAMP_LOG_APPEND_TIME, 5))) == b"LogAppendTime:5\tNO_HEADERS\tv\n"
    assert f.format(Msg(ts=(0, -1))) == b"NO_TIMESTAMP\tNO_HEADERS\tv\n"


def test_null_key_and_value_and_custom_separators():
    f = fmt(
        **{
            "print.key": "true",
            "key.separator": " => ",
            "line.separator": "\\n--\\n",
            "null.literal": "<nil>",
        }
    )
    assert f.format(Msg(key=None, value=None)) == b"<nil> => <nil>\n--\n"


def test_print_value_false():
    f = fmt(**{"print.key": "true", "print.value": "false"})
    assert f.format(Msg()) == b"k\n"


def test_escaped_tab_separator():
    assert fmt(**{"print.key": "true", "key.separator": "\\t"}).format(Msg()) == b"k\tv\n"


# --- consumer options -----------------------------------------------------------------------


def cargs(*argv: str) -> argparse.Namespace:
    return cc.build_parser().parse_args(list(argv))


def test_plan_subscribe_and_pattern():
    assert cc.plan(cargs("--topic", "t")).subscription == ["t"]
    assert cc.plan(cargs("--include", "logs.*")).subscription == ["^logs.*"]
    assert cc.plan(cargs("--whitelist", "^x")).subscription == ["^x"]


def test_plan_assign_offsets():
    assert cc.plan(cargs("--topic", "t", "--partition", "1")).assignment.offset == OFFSET_END
    a = cc.plan(cargs("--topic", "t", "--partition", "1", "--from-beginning")).assignment
    assert (a.topic, a.partition, a.offset) == ("t", 1, OFFSET_BEGINNING)
    assert (
        cc.plan(cargs("--topic", "t", "--partition", "0", "--offset", "Earliest")).assignment.offset
        == OFFSET_BEGINNING
    )
    assert (
        cc.plan(cargs("--topic", "t", "--partition", "0", "--offset", "17")).assignment.offset == 17
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "exactly one of --topic or --include"),
        (["--topic", "t", "--include", "x"], "exactly one of --topic or --include"),
        (["--topic", "t", "--offset", "3"], "partition is required"),
        (["--include", "x", "--partition", "0"], "--partition needs --topic"),
        (["--topic", "t", "--partition", "0", "--offset", "-3"], "non-negative"),
        (["--topic", "t", "--partition", "0", "--offset", "soon"], "non-negative"),
        (["--topic", "t", "--partition", "-1"], "non-negative"),
        (
            ["--topic", "t", "--partition", "0", "--offset", "1", "--from-beginning"],
            "cannot be used together",
        ),
    ],
)
def test_plan_errors(argv, message):
    with pytest.raises(CliError, match=message) as exc:
        cc.plan(cargs(*argv))
    assert exc.value.code == 2


def test_no_group_means_throwaway_group_without_commits():
    cfg = ClientConfig(conf={"bootstrap.servers": "b"})
    cc.finish_config(cfg, cargs("--topic", "t"))
    assert cfg.conf["group.id"].startswith("console-consumer-")
    assert 0 <= int(cfg.conf["group.id"].rsplit("-", 1)[1]) < 100000
    assert cfg.conf["enable.auto.commit"] == "false"
    assert cfg.conf["auto.offset.reset"] == "latest"


def test_group_commits_and_from_beginning():
    cfg = ClientConfig(conf={})
    cc.finish_config(cfg, cargs("--topic", "t", "--group", "g", "--from-beginning"))
    assert cfg.conf["group.id"] == "g"
    assert "enable.auto.commit" not in cfg.conf
    assert cfg.conf["auto.offset.reset"] == "earliest"


def test_group_from_properties_counts_as_given():
    cfg = ClientConfig(conf={"group.id": "fromfile", "auto.offset.reset": "earliest"})
    cc.finish_config(cfg, cargs("--topic", "t"))
    assert cfg.conf["group.id"] == "fromfile" and "enable.auto.commit" not in cfg.conf
    assert cfg.conf["auto.offset.reset"] == "earliest"


def test_conflicting_group_and_reset():
    with pytest.raises(CliError, match="group id given twice"):
        cc.finish_config(
            ClientConfig(conf={"group.id": "a"}), cargs("--topic", "t", "--group", "b")
        )
    with pytest.raises(CliError, match=r"conflicts with auto\.offset\.reset=latest"):
        cc.finish_config(
            ClientConfig(conf={"auto.offset.reset": "latest"}),
            cargs("--topic", "t", "--from-beginning"),
        )


def test_consumer_property_flags():
    args = cargs(
        "--topic",
        "t",
        "--consumer-property",
        "fetch.min.bytes=1",
        "--isolation-level",
        "read_committed",
    )
    assert cc.consumer_properties(args) == {
        "fetch.min.bytes": "1",
        "isolation.level": "read_committed",
    }
