r"""The one ``.properties`` parser against ``java.util.Properties.load``'s documented rules.

Each case is a rule from the ``Properties.load(Reader)`` documentation: natural and logical
lines, comment lines, the key/element separators, line continuations, and the escapes that
``loadConvert`` understands. Also: ``brook broker --config`` now reads through the same parser
(it used to strip every backslash and leave escapes undecoded).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from brook.broker.config import ConfigError
from brook.broker.config import parse_properties as broker_parse_properties
from brook.cli.properties import load_properties as cli_load_properties
from brook.config.properties import PropertiesError, load_properties, parse_properties

CASES = [
    # Separators: '=', ':', or whitespace; whitespace around them is ignored.
    ("key=value", {"key": "value"}),
    ("key:value", {"key": "value"}),
    ("key value", {"key": "value"}),
    ("key   =   value", {"key": "value"}),
    ("key \t: value", {"key": "value"}),
    ("key\t\tvalue", {"key": "value"}),
    # Only the first separator counts; later ones belong to the value.
    ("a=b=c", {"a": "b=c"}),
    ("a:b:c", {"a": "b:c"}),
    ("a = = b", {"a": "= b"}),
    ("url=http://h:1/p", {"url": "http://h:1/p"}),
    # Trailing whitespace of the value is kept; leading whitespace of the line is not.
    ("key=value  ", {"key": "value  "}),
    ("   \t\fkey=value", {"key": "value"}),
    # A key alone has the empty string as its element.
    ("cheeses", {"cheeses": ""}),
    ("cheeses=", {"cheeses": ""}),
    ("cheeses   ", {"cheeses": ""}),
    # Comment lines: first non-blank character '#' or '!'; blank lines are skipped.
    ("# comment\n! also a comment\n\n   \t\nkey=v", {"key": "v"}),
    ("  # indented comment\nkey=v", {"key": "v"}),
    # '#' or '!' inside a value is not a comment.
    ("key=a#b!c", {"key": "a#b!c"}),
    # Line terminators: \n, \r, \r\n.
    ("a=1\rb=2\r\nc=3\n", {"a": "1", "b": "2", "c": "3"}),
    # Continuation: an odd number of trailing backslashes joins the next line, whose
    # leading whitespace is dropped.
    ("fruits apple, banana, pear, \\\n          cantaloupe, watermelon",
     {"fruits": "apple, banana, pear, cantaloupe, watermelon"}),
    ("a=x\\\n\\\n   y", {"a": "xy"}),
    ("a=x\\\r\n  y", {"a": "xy"}),
    # An even number is escaped backslashes, no continuation.
    ("a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),
    ("a=x\\\\\\\n y", {"a": "x\\y"}),
    # A continuation line starting with '#' is part of the value, not a comment.
    ("a=x\\\n  #y", {"a": "x#y"}),
    # A backslash at the very end of the input is dropped.
    ("a=x\\", {"a": "x"}),
    # Escapes: \t \n \r \f, \uXXXX; any other escaped character stands for itself.
    ("a=\\t\\n\\r\\f", {"a": "\t\n\r\f"}),
    ("a=\\u0041\\u00e9\\u20AC", {"a": "Aé€"}),
    ("a=C:\\\\data\\\\logs", {"a": "C:\\data\\logs"}),
    ("a=\\=\\:\\ \\#\\!", {"a": "=: #!"}),
    ("a=\\q\\z", {"a": "qz"}),
    # Escaped separators and spaces belong to the key.
    ("key\\=with\\:seps=v", {"key=with:seps": "v"}),
    ("key\\ with\\ spaces v", {"key with spaces": "v"}),
    ("\\#notcomment=v", {"#notcomment": "v"}),
    # The leading whitespace of a value may be kept by escaping it.
    ("a=\\  x", {"a": "  x"}),
    # A later key wins.
    ("a=1\na=2", {"a": "2"}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_java_properties_rules(text: str, expected: dict[str, str]) -> None:
    assert parse_properties(text) == expected


@pytest.mark.parametrize("text", ["a=\\u12", "a=\\u12G4", "\\uzzzz=1"])
def test_malformed_unicode_escape_is_rejected_as_java_does(text: str) -> None:
    with pytest.raises(PropertiesError, match="uxxxx"):
        parse_properties(text)


@pytest.mark.parametrize("text, expected", CASES)
def test_broker_config_reads_by_the_same_rules(text: str, expected: dict[str, str]) -> None:
    """``brook broker --config`` used to strip every backslash in keys and leave values
    undecoded (``C:\\\\data`` stayed doubled, ``\\u0041`` stayed literal)."""
    assert broker_parse_properties(text) == expected


def test_broker_config_malformed_escape_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="uxxxx"):
        broker_parse_properties("node.id=\\u00")


def test_every_reader_shares_the_parser(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text("sasl.jaas.config=a\\\n  b\npath=C:\\\\x\nname=\\u00e9\n", encoding="utf-8")
    expected = {"sasl.jaas.config": "ab", "path": "C:\\x", "name": "é"}
    assert load_properties(str(path)) == expected
    assert cli_load_properties(str(path)) == expected


def test_latin1_file_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "x.properties"
    path.write_bytes("name=caf\xe9\n".encode("iso-8859-1"))
    assert load_properties(str(path)) == {"name": "café"}


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PropertiesError, match="does not exist"):
        load_properties(str(tmp_path / "nope.properties"))


def _broker_config(tmp_path: Path, data: bytes) -> dict[str, str]:
    from brook.broker.main import build_parser, config_from_args

    path = tmp_path / "server.properties"
    path.write_bytes(data)
    args = build_parser().parse_args(["--config", str(path)])
    return dict(config_from_args(args).props)


def test_broker_config_file_with_a_bom_keeps_its_first_key(tmp_path: Path) -> None:
    """The first key of a server.properties saved with a UTF-8 BOM used to be read as
    ``\\ufeffnode.id``, so node.id was silently ignored."""
    props = _broker_config(tmp_path, "\ufeffnode.id=7\nlog.dirs=/tmp/x\n".encode())
    assert props["node.id"] == "7"


def test_broker_config_file_in_latin1_is_read(tmp_path: Path) -> None:
    """A non-UTF-8 server.properties used to crash start-up with a UnicodeDecodeError."""
    props = _broker_config(tmp_path, "node.id=2\nbroker.rack=s\xfcd\n".encode("iso-8859-1"))
    assert props["broker.rack"] == "süd"


def test_broker_config_file_missing_is_one_config_error(tmp_path: Path) -> None:
    from brook.broker.main import build_parser, config_from_args

    args = build_parser().parse_args(["--config", str(tmp_path / "none.properties")])
    with pytest.raises(ConfigError, match="does not exist"):
        config_from_args(args)
