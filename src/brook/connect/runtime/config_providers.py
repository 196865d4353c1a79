"""Config providers: ``${provider:path:key}`` placeholders in connector configs (Kafka's KIP-297).

The worker declares providers (``config.providers=file,env,dir`` and
``config.providers.<alias>.class``, with settings under ``config.providers.<alias>.param.``);
a connector config names a secret by reference, e.g.
``aws.secret.access.key=${file:/etc/brook/s3.properties:secret}``. The reference is what is
stored in the config topic and returned by the REST API; the value is looked up only when a
connector or task starts (and when a config is validated), and task configs keep the
reference too (Kafka's ``reverseTransform``), so the config topic never holds the secret.

Secure by default, stricter than Kafka 4.x (whose providers read any file and any environment
variable unless restricted): ``FileConfigProvider`` and ``DirectoryConfigProvider`` read
nothing until ``allowed.paths`` names directories, and ``EnvVarConfigProvider`` reads no
variable until ``allowlist.pattern`` is set. A path is checked after symlinks are resolved.
As in Kafka, a reference that cannot be resolved (a path not allowed, a missing key) is left
as it is, and the refusal is logged without the value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from brook.config.properties import parse_properties

log = logging.getLogger(__name__)
PACKAGE = "org.apache.kafka.common.config.provider."
VARIABLE = re.compile(r"\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}")
"""Kafka's ``ConfigTransformer.DEFAULT_PATTERN``: provider, optional path, key."""
MAX_FILE_BYTES = 1 << 20
"""Largest file a provider reads: a secret or a properties file, never a disk image."""


class ConfigProvider:
    """Kafka's ``ConfigProvider``: ``get(path, keys)`` returns the values it has of ``keys``."""

    def configure(self, params: Mapping[str, str]) -> None:
        pass

    def get(self, path: str | None, keys: set[str]) -> dict[str, str]:
        raise NotImplementedError


def _allowed_paths(params: Mapping[str, str]) -> list[Path]:
    roots = []
    for item in str(params.get("allowed.paths", "")).split(","):
        if not item.strip():
            continue
        p = Path(item.strip())
        if not p.is_absolute():
            raise ValueError(f"allowed.paths: {item.strip()} is not an absolute path")
        roots.append(Path(os.path.realpath(p)))
    return roots


class _PathProvider(ConfigProvider):
    def configure(self, params: Mapping[str, str]) -> None:
        self.roots = _allowed_paths(params)

    def _allowed(self, path: str | None) -> Path | None:
        if not path or not os.path.isabs(path):
            return None
        real = Path(os.path.realpath(path))
        if any(real == root or root in real.parents for root in self.roots):
            return real
        log.warning("%s: the path %s is not allowed to be accessed (allowed.paths)",
                    type(self).__name__, path)
        return None

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
                return None
            return path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read %s: %s", path, exc.__class__.__name__)
            return None


class FileConfigProvider(_PathProvider):
    """``${file:/path/to/file.properties:key}``: a key of a Java properties file."""

    def get(self, path: str | None, keys: set[str]) -> dict[str, str]:
        real = self._allowed(path)
        text = None if real is None else self._read(real)
        if text is None:
            return {}
        try:
            props = parse_properties(text, str(real))
        except ValueError:
            log.warning("cannot parse %s as properties", real)
            return {}
        return {k: props[k] for k in keys if k in props}


class DirectoryConfigProvider(_PathProvider):
    """``${dir:/path/to/dir:file}``: the content of a regular file named directly in the
    directory (Kubernetes-style secret volumes)."""

    def get(self, path: str | None, keys: set[str]) -> dict[str, str]:
        directory = self._allowed(path)
        if directory is None or not directory.is_dir():
            return {}
        out: dict[str, str] = {}
        for key in keys:
            if "/" in key or key in ("", ".", ".."):
                continue
            # Kubernetes mounts secrets as symlinks into a ..data directory: a link is
            # followed as long as it stays inside allowed.paths.
            real = self._allowed(str(directory / key))
            text = None if real is None else self._read(real)
            if text is not None:
                out[key] = text
        return out


class EnvVarConfigProvider(ConfigProvider):
    """``${env:NAME}``: an environment variable whose name matches ``allowlist.pattern``."""

    def configure(self, params: Mapping[str, str]) -> None:
        pattern = params.get("allowlist.pattern")
        self.allow = re.compile(pattern) if pattern else None

    def get(self, path: str | None, keys: set[str]) -> dict[str, str]:
        if path:
            log.warning("EnvVarConfigProvider: the path must be empty, not %s", path)
            return {}
        out: dict[str, str] = {}
        for key in keys:
            if self.allow is None or not self.allow.fullmatch(key):
                log.warning("EnvVarConfigProvider: %s does not match allowlist.pattern", key)
            elif key in os.environ:
                out[key] = os.environ[key]
        return out


PROVIDERS: dict[str, type[ConfigProvider]] = {
    PACKAGE + "FileConfigProvider": FileConfigProvider,
    PACKAGE + "DirectoryConfigProvider": DirectoryConfigProvider,
    PACKAGE + "EnvVarConfigProvider": EnvVarConfigProvider,
}
for _cls in list(PROVIDERS.values()):
    PROVIDERS[_cls.__name__] = _cls


def from_worker(props: Mapping[str, str], aliases: list[str]) -> dict[str, ConfigProvider]:
    """The worker's providers; an unknown class or bad setting raises ``ValueError``."""
    providers: dict[str, ConfigProvider] = {}
    for alias in aliases:
        cls_name = str(props.get(f"config.providers.{alias}.class", "")).strip()
        cls = PROVIDERS.get(cls_name)
        if cls is None:
            raise ValueError(f"config.providers: Class {cls_name} could not be found.")
        prefix = f"config.providers.{alias}.param."
        provider = cls()
        try:
            provider.configure({k[len(prefix):]: v for k, v in props.items()
                                if k.startswith(prefix)})
        except (ValueError, re.error) as exc:
            raise ValueError(f"config.providers.{alias}: {exc}") from exc
        providers[alias] = provider
    return providers


NO_PLACEHOLDER_PREFIXES = ("transforms.", "predicates.")
NO_PLACEHOLDER_KEYS = frozenset({
    "name", "connector.class", "topics", "topics.regex", "transforms", "predicates",
    "topics.dir", "path.format", "directory.delim", "file.delim", "partition.field.name",
    "s3.bucket.name", "errors.deadletterqueue.topic.name"})
"""Keys whose values become names: of topics, of S3 objects (transformations may rename
topics), of the connector. A secret there would leave the worker in a name anyone can list."""


def placeholder_problems(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, reason)`` for references in keys that must not hold one."""
    return [(k, "config provider references are not allowed in this key: its value becomes "
                "a topic, object or connector name")
            for k, v in config.items() if isinstance(v, str) and VARIABLE.search(v)
            and (k in NO_PLACEHOLDER_KEYS or k.startswith(NO_PLACEHOLDER_PREFIXES))]


class Resolver:
    """Resolves references with the worker's providers and hides what it resolved."""

    def __init__(self, providers: Mapping[str, ConfigProvider]) -> None:
        self.providers = dict(providers)

    def resolve(self, config: Mapping[str, str]) -> tuple[dict[str, str], Callable[[str], str]]:
        """``config`` with every resolvable reference replaced, and a ``scrub`` function that
        puts the references back into any text (error messages, traces)."""
        wanted: dict[tuple[str, str | None], set[str]] = {}
        for value in config.values():
            for m in VARIABLE.finditer(str(value)):
                if m.group(1) in self.providers:
                    wanted.setdefault((m.group(1), m.group(2)), set()).add(m.group(3))
        found: dict[tuple[str, str | None, str], str] = {}
        for (alias, path), keys in wanted.items():
            try:
                values = self.providers[alias].get(path, keys)
            except Exception as exc:  # a provider must not take a task's start down with it
                log.warning("config provider %s failed: %s", alias, exc.__class__.__name__)
                continue
            for key, value in values.items():
                found[(alias, path, key)] = value
        secrets: dict[str, str] = {}

        def substitute(m: re.Match[str]) -> str:
            value = found.get((m.group(1), m.group(2), m.group(3)))
            if value is None:
                return m.group(0)
            secrets[value] = m.group(0)
            return value

        resolved = {k: VARIABLE.sub(substitute, str(v)) for k, v in config.items()}
        return resolved, _scrubber(secrets)


def _scrubber(secrets: Mapping[str, str]) -> Callable[[str], str]:
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def scrub(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, secrets[secret])
        return text

    return scrub


def reverse_transform(raw: Mapping[str, str], task_configs: list[dict[str, str]],
                      scrub: Callable[[str], str]) -> list[dict[str, str]]:
    """Kafka's ``reverseTransform``: a task config value whose connector config value holds a
    reference gets the reference back (and any other value has resolved secrets put back as
    references), so the config topic stores no resolved secret."""
    refs = {k: v for k, v in raw.items() if isinstance(v, str) and VARIABLE.search(v)}
    return [{k: refs[k] if k in refs else scrub(str(v)) for k, v in tc.items()}
            for tc in task_configs]
