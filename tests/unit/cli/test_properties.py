"""Java .properties syntax and JAAS parsing, as the Kafka tools read client.properties."""

from __future__ import annotations

import pytest

from brook.cli.properties import (
    PropertiesError,
    load_properties,
    parse_jaas_config,
    parse_properties,
)


def test_separators_and_whitespace():
    text = "a=1\nb:2\nc 3\n  d  =  4  \ne\t:\tfive\nf\n"
    assert parse_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "d": "4  ",
        "e": "five",
        "f": "",
    }


def test_only_first_separator_splits():
    assert parse_properties("url=http://h:1/x=y") == {"url": "http://h:1/x=y"}
    assert parse_properties("k::v") == {"k": ":v"}
    assert parse_properties("k = = v") == {"k": "= v"}


def test_comments_and_blank_lines():
    text = "# comment\n! bang comment\n   # indented comment\n\n   \nkey=value # not a comment\n"
    assert parse_properties(text) == {"key": "value # not a comment"}


def test_comment_lines_are_never_continued():
    assert parse_properties("# comment \\\nkey=value\n") == {"key": "value"}


def test_line_continuation_strips_leading_whitespace():
    text = 'sasl.jaas.config=org.Module required \\\n    username="u" \\\n    password="p";\n'
    assert parse_properties(text) == {
        "sasl.jaas.config": 'org.Module required username="u" password="p";'
    }


def test_even_backslashes_do_not_continue():
    assert parse_properties("a=x\\\\\nb=y") == {"a": "x\\", "b": "y"}


def test_trailing_backslash_at_eof_is_dropped():
    assert parse_properties("a=x\\") == {"a": "x"}


def test_escapes():
    text = "k\\ ey\\=\\:=v\\tw\\nx\\u0041\\\\z\\q\n"
    assert parse_properties(text) == {"k ey=:": "v\tw\nxA\\zq"}


def test_malformed_unicode_escape():
    with pytest.raises(PropertiesError, match=r"<properties>:2: malformed \\uxxxx"):
        parse_properties("ok=1\nbad=\\u12G4\n")


def test_crlf_and_cr_line_endings():
    assert parse_properties("a=1\r\nb=2\rc=3") == {"a": "1", "b": "2", "c": "3"}


def test_last_duplicate_wins():
    assert parse_properties("a=1\na=2\n") == {"a": "2"}


def test_load_utf8_bom_and_latin1(tmp_path):
    p = tmp_path / "c.properties"
    p.write_bytes(b"\xef\xbb\xbfsasl.password=p\xc3\xa4ss\n")
    assert load_properties(str(p)) == {"sasl.password": "päss"}
    p.write_bytes(b"sasl.password=p\xe4ss\n")
    assert load_properties(str(p)) == {"sasl.password": "päss"}


def test_load_errors(tmp_path):
    with pytest.raises(PropertiesError, match="does not exist"):
        load_properties(str(tmp_path / "nope.properties"))
    with pytest.raises(PropertiesError, match="is a directory"):
        load_properties(str(tmp_path))
    binary = tmp_path / "bin.properties"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(PropertiesError, match="not a text file"):
        load_properties(str(binary))


def test_tutorial_iam_file(tmp_path):
    p = tmp_path / "client.properties"
    p.write_text(
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=AWS_MSK_IAM\n"
        "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n"
        "sasl.client.callback.handler.class=software.amazon.msk.auth.iam.IAMClientCallbackHandler\n"
    )
    props = load_properties(str(p))
    assert props["sasl.jaas.config"] == "software.amazon.msk.auth.iam.IAMLoginModule required;"
    assert len(props) == 4


# --- JAAS -----------------------------------------------------------------------------------


def test_jaas_scram_quoted_values():
    [entry] = parse_jaas_config(
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="alice" password="s3cr;t=\\"x\\"";'
    )
    assert entry.short_name == "ScramLoginModule"
    assert entry.flag == "required"
    assert entry.options == {"username": "alice", "password": 's3cr;t="x"'}


def test_jaas_unquoted_values_and_flags():
    [entry] = parse_jaas_config("a.b.PlainLoginModule Optional username=bob password=pw ;")
    assert entry.flag == "optional"
    assert entry.options == {"username": "bob", "password": "pw"}


def test_jaas_no_options_and_multiple_entries():
    entries = parse_jaas_config('x.IAMLoginModule required; y.Other sufficient k="v";')
    assert [e.short_name for e in entries] == ["IAMLoginModule", "Other"]
    assert entries[0].options == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no login module"),
        ("x.Module", "expected one of required"),
        ("x.Module maybe;", "expected one of required"),
        ("x.Module required username", "malformed option"),
        ('x.Module required username="u"', "missing ';'"),
        ('x.Module required username="u', "unterminated"),
        ("x.Module required =v;", "malformed option"),
        ('"x" required;', "expected a login module"),
    ],
)
def test_jaas_errors(text, message):
    with pytest.raises(PropertiesError, match=message):
        parse_jaas_config(text)
