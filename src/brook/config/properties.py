r"""Java ``.properties`` files, read by the rules of ``java.util.Properties.load``.

Every reader of a properties file (``brook broker --config``, the CLI's ``--command-config``,
``--producer.config`` and ``--consumer.config``, the Connect worker's config and ``brook
connectors create FILE``) goes through this one parser, so a file means the same to each of
them and the same as it does to the Java tools: ``#``/``!`` comments, ``key=value``,
``key:value`` and ``key value``, leading whitespace ignored, a trailing odd run of backslashes
continuing the line (the next line's leading whitespace dropped), ``\uXXXX`` and the escapes
``\t \n \r \f``; any other escaped character stands for itself (``\\``, ``\=``,
``\:``, ``\ ``, ``\#``).
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["PropertiesError", "load_properties", "parse_properties"]

_WHITESPACE = " \t\f"
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class PropertiesError(ValueError):
    """A properties file (or a value in it) that the Java tools would also reject."""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; return (first line number, logical line) pairs.

    Comment lines are never continued, and the leading whitespace of a continuation line is
    dropped, exactly as ``Properties.load`` does. A line is continued only when it ends in an
    odd number of backslashes (``\\\\`` at the end is an escaped backslash).
    """
    natural = re.split(r"\r\n|\r|\n", text)
    result: list[tuple[int, str]] = []
    i = 0
    while i < len(natural):
        start = i
        line = natural[i].lstrip(_WHITESPACE)
        i += 1
        if not line or line[0] in "#!":
            continue
        parts: list[str] = []
        while True:
            trailing = len(line) - len(line.rstrip("\\"))
            if trailing % 2 == 0:
                parts.append(line)
                break
            parts.append(line[:-1])
            if i >= len(natural):
                break
            line = natural[i].lstrip(_WHITESPACE)
            i += 1
        result.append((start + 1, "".join(parts)))
    return result


def _unescape(raw: str, where: str) -> str:
    """Resolve backslash escapes; an unknown escape stands for the character itself."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= len(raw):
            break
        nxt = raw[i]
        if nxt == "u":
            digits = raw[i + 1 : i + 5]
            if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise PropertiesError(f"{where}: malformed \\uxxxx escape")
            out.append(chr(int(digits, 16)))
            i += 5
            continue
        out.append(_SIMPLE_ESCAPES.get(nxt, nxt))
        i += 1
    return "".join(out)


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line at the first unescaped ``=``, ``:`` or whitespace."""
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=:" or ch in _WHITESPACE:
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in _WHITESPACE:
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in _WHITESPACE:
            j += 1
    return key, line[j:]


def parse_properties(text: str, source: str = "<properties>") -> dict[str, str]:
    """Parse properties text into an ordered dict; a repeated key keeps its last value."""
    result: dict[str, str] = {}
    for lineno, line in _logical_lines(text):
        where = f"{source}:{lineno}"
        raw_key, raw_value = _split_key_value(line)
        result[_unescape(raw_key, where)] = _unescape(raw_value, where)
    return result


def load_properties(path: str) -> dict[str, str]:
    """Read and parse a properties file, turning I/O problems into PropertiesError.

    Java reads these files as ISO-8859-1; we read UTF-8 first because that is what editors
    write today (passwords with non-ASCII characters would otherwise be mangled), and fall
    back to ISO-8859-1 for files that are not valid UTF-8.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PropertiesError(f"properties file '{path}' does not exist") from None
    except IsADirectoryError:
        raise PropertiesError(f"properties file '{path}' is a directory") from None
    except OSError as exc:
        raise PropertiesError(f"cannot read properties file '{path}': {exc.strerror}") from None
    if b"\x00" in data:
        raise PropertiesError(f"properties file '{path}' is not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("iso-8859-1")
    return parse_properties(text, source=path)
