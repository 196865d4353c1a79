"""Java ``.properties`` and JAAS-configuration parsing for the Kafka-compatible CLI.

Users bring the ``client.properties`` files they already feed to the Kafka scripts, so the
files are read by ``brook.config.properties`` (``java.util.Properties.load``'s rules, the one
parser every reader of a properties file uses); it is re-exported here for the CLI's modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from brook.config.properties import PropertiesError, load_properties, parse_properties

__all__ = [
    "JaasEntry",
    "PropertiesError",
    "load_properties",
    "parse_jaas_config",
    "parse_properties",
]

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
