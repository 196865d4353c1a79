"""Bucket names and object keys the S3 sink accepts, and where a ``file://`` store may live.

A connector config comes from whoever can reach the REST API, and a record's fields feed the
FieldPartitioner; with a local store both end up in a filesystem path. So bucket names follow
S3's own naming rules (which leave no room for ``/`` or ``..``), every object key is checked
as a relative key before it is written (no ``..`` or ``.`` segment, no leading ``/``, no
control characters), and a ``file://`` ``store.url`` must lie under a directory the *worker*
allows (``s3.file.store.root``, or the worker's ``BROOK_S3_DEFAULT_STORE_URL``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from brook.connect.api import ConfigException, DataException, confine, has_control_chars, policy

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(name: str) -> str | None:
    """Why ``name`` is not a valid S3 general-purpose bucket name, or ``None``."""
    if not _BUCKET.fullmatch(name):
        return ("Bucket names are 3-63 characters of lowercase letters, digits, dots and "
                "hyphens, beginning and ending with a letter or digit")
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain two adjacent periods or a period next to a hyphen"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "Bucket names must not be formatted as an IP address"
    if name.startswith(_BUCKET_PREFIXES) or name.endswith(_BUCKET_SUFFIXES):
        return "Bucket names must not use a prefix or suffix S3 reserves"
    return None


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be written as an object key (relative, no dot segments), or ``None``."""
    if not key:
        return "an object key must not be empty"
    if has_control_chars(key):
        return "an object key must not contain control characters"
    if key.startswith("/") or key.startswith("\\"):
        return "an object key must not start with '/'"
    for segment in re.split(r"[/\\]", key):
        if segment in ("", ".", ".."):
            return "an object key must not contain empty, '.' or '..' segments"
    return None


def check_bucket(name: str, value: Any) -> None:
    problem = bucket_problem(str(value))
    if problem:
        raise ConfigException(name, value, problem)


def check_prefix(name: str, value: Any) -> None:
    """``topics.dir``: empty, or a relative key prefix."""
    if value and (problem := key_problem(str(value))):
        raise ConfigException(name, value, problem.replace("an object key", "topics.dir"))


def check_delimiter(name: str, value: Any) -> None:
    text = str(value)
    if not text or has_control_chars(text):
        raise ConfigException(name, value, "Must be non-empty, without control characters")


def check_store_url(name: str, value: Any) -> None:
    url = str(value or "")
    if not url:
        return
    if not url.startswith(("http://", "https://", "file://")):
        raise ConfigException(name, value, "Must be an http(s):// S3 endpoint or a file:// "
                                           "directory")
    if url.startswith("file://"):
        local_root(url, name)


def local_root(url: str, key: str = "store.url") -> Path:
    """The directory of a ``file://`` URL, if the worker allows it (symlinks resolved)."""
    path = url[len("file://"):]
    if path.startswith("localhost/"):
        path = path[len("localhost"):]
    return confine(key, path, policy.current().store_roots)


def checked_key(key: str) -> str:
    problem = key_problem(key)
    if problem:
        raise DataException(f"Refusing to write object {key!r}: {problem}")
    return key
