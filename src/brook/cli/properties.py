"""Java ``.properties`` and JAAS-configuration parsing for the Kafka-compatible CLI.

Users bring the ``client.properties`` files they already feed to the Kafka scripts, so the
parser follows ``java.util.Properties.load`` rather than an INI or dotenv dialect: ``#``/``!``
comments, ``=``/``:``/whitespace separators, backslash continuations and escapes. Anything
laxer would silently read a different value than the Java tools do for the same file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

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


# --- JAAS ---------------------------------------------------------------------------------

_JAAS_FLAGS = ("required", "requisite", "sufficient", "optional")


@dataclass(frozen=True)
class JaasEntry:
    """One login module entry of a ``sasl.jaas.config`` value."""

    module: str
    flag: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        """The class name without its package, e.g. ``ScramLoginModule``."""
        return self.module.rsplit(".", 1)[-1]


def _jaas_tokens(text: str) -> list[str]:
    """Tokenize JAAS text into words, quoted strings (kept with quotes), ``=`` and ``;``."""
    tokens: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "=;":
            tokens.append(ch)
            i += 1
        elif ch == '"':
            j = i + 1
            buf = ['"']
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise PropertiesError("sasl.jaas.config: unterminated quoted value")
            tokens.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '=;"':
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens


def parse_jaas_config(text: str) -> list[JaasEntry]:
    """Parse ``Module flag key="value" ...;`` entries (the form Kafka accepts inline)."""
    tokens = _jaas_tokens(text)
    entries: list[JaasEntry] = []
    i = 0
    while i < len(tokens):
        module = tokens[i]
        if module in ("=", ";") or module.startswith('"'):
            raise PropertiesError(
                f"sasl.jaas.config: expected a login module class, got {module!r}"
            )
        if i + 1 >= len(tokens) or tokens[i + 1].lower() not in _JAAS_FLAGS:
            raise PropertiesError(
                f"sasl.jaas.config: expected one of {', '.join(_JAAS_FLAGS)} after {module}"
            )
        flag = tokens[i + 1].lower()
        i += 2
        options: dict[str, str] = {}
        while i < len(tokens) and tokens[i] != ";":
            key = tokens[i]
            well_formed = (
                key not in ("=", ";")
                and not key.startswith('"')
                and i + 2 < len(tokens)
                and tokens[i + 1] == "="
                and tokens[i + 2] not in ("=", ";")
            )
            if not well_formed:
                raise PropertiesError(f"sasl.jaas.config: malformed option near {key!r}")
            value = tokens[i + 2]
            options[key] = value[1:] if value.startswith('"') else value
            i += 3
        if i >= len(tokens):
            raise PropertiesError("sasl.jaas.config: missing ';' at the end of the entry")
        i += 1
        entries.append(JaasEntry(module, flag, options))
    if not entries:
        raise PropertiesError("sasl.jaas.config: no login module given")
    return entries
