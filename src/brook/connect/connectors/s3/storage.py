"""Object access through obstore: a real S3 API endpoint or a local directory.

``store.url=http(s)://...`` (or none: AWS itself) gives an ``S3Store`` with path-style requests;
credentials come from ``aws.access.key.id``/``aws.secret.access.key``, or else - only for the
worker's own store (no ``store.url``, or the worker's default one) - from the usual AWS
environment variables and instance role: an endpoint a connector names is any host a REST
caller chose, so it is not sent the worker's credentials. ``store.url=file:///dir`` writes
``<dir>/<bucket>/<key>``, only where the worker allows (``names.local_root``). Uploads larger
than ``s3.part.size`` are multipart, so an object appears whole or not at all.

A failed write is retried ``s3.part.retries`` times, the first after ``s3.retry.backoff.ms``
and each next one after twice the previous wait (Confluent's semantics). When the store still
refuses, the write fails for good with the store's reason: the task is FAILED with that reason
as its trace, instead of RUNNING while it retries forever; ``POST
/connectors/<name>/restart?includeTasks=true&onlyFailed=true`` resumes it once the store is
fixed, from the last committed offset.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from typing import Any

import obstore
from obstore.store import LocalStore, S3Store

from brook.connect.api import ConfigException, ConnectException
from brook.connect.connectors.s3.names import bucket_problem, checked_key, local_root

DEFAULT_STORE_URL_ENV = "BROOK_S3_DEFAULT_STORE_URL"
"""Where objects go when a connector names no ``store.url``: set by ``brook up`` to a local
directory (the embedded default); unset, the sink talks to AWS S3 itself, as Confluent's
does."""


def open_store(config: Mapping[str, Any]) -> Any:
    url = str(config.get("store.url") or os.environ.get(DEFAULT_STORE_URL_ENV) or "")
    bucket = str(config["s3.bucket.name"])
    problem = bucket_problem(bucket)
    if problem:
        raise ConfigException("s3.bucket.name", bucket, problem)
    if url.startswith("file://"):
        root = local_root(url) / bucket
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(prefix=root, mkdir=True)
    kwargs: dict[str, Any] = {"region": str(config.get("s3.region") or "us-west-2")}
    key, secret = config.get("aws.access.key.id"), config.get("aws.secret.access.key")
    if key and secret:
        # Exactly the connector's keys: obstore would otherwise add the worker's
        # AWS_SESSION_TOKEN from the environment to requests signed with them.
        static = {"access_key_id": str(key), "secret_access_key": str(secret), "token": None,
                  "expires_at": None}
        kwargs["credential_provider"] = lambda: static
    elif config.get("store.url") and config.get("store.url") != os.environ.get(
            DEFAULT_STORE_URL_ENV):
        # An endpoint the connector names gets only the credentials the connector gives: the
        # worker's own (environment, instance role) would sign requests - and send the session
        # token - to whatever host a REST caller chose.
        kwargs["skip_signature"] = True
    client_options: Any = {}
    if url:
        kwargs["endpoint"] = url.rstrip("/")
        kwargs["virtual_hosted_style_request"] = not bool(
            config.get("s3.path.style.access.enabled", True))
        if url.startswith("http://"):
            client_options["allow_http"] = True
    return S3Store(bucket, client_options=client_options or None, **kwargs)


_NON_2XX = "Server returned non-2xx status code:"


def store_reason(exc: BaseException) -> str:
    """The store's reason for a failure, fit for a task's ``trace`` (readable over REST).

    The endpoint may be any host a connector names, so the body of its error response is not
    repeated - it could be an internal page - except an S3 error's ``Code`` and ``Message``.
    """
    text = str(exc)
    first = text.split("\n", 1)[0]
    at = first.find(_NON_2XX)
    if at < 0:
        return first[:500]
    status = first[at + len(_NON_2XX):].split(":", 1)[0].strip()
    reason = first[:at] + _NON_2XX + " " + status
    for tag in ("Code", "Message"):
        found = re.search(f"<{tag}>([^<]{{0,200}})</{tag}>", text)
        if found:
            reason += f"; {tag}: {found.group(1)}"
    return reason


class ObjectWriter:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self.store = open_store(config)
        self.part_size = int(config.get("s3.part.size", 25 * 1024 * 1024))
        self.retries = int(config.get("s3.part.retries", 3))
        self.backoff_ms = int(config.get("s3.retry.backoff.ms", 200))
        self.stopping = threading.Event()

    def put(self, key: str, data: bytes) -> None:
        """Write one whole object; overwriting an identical object is harmless by design."""
        checked_key(key)
        for attempt in range(self.retries + 1):
            try:
                obstore.put(self.store, key, data, chunk_size=self.part_size,
                            use_multipart=len(data) > self.part_size)
                return
            except Exception as exc:
                if attempt >= self.retries or self.stopping.wait(
                        self.backoff_ms * (2 ** attempt) / 1000):
                    raise ConnectException(f"writing s3 object {key} failed after "
                                           f"{attempt + 1} attempt(s): {store_reason(exc)}"
                                           ) from None

    def get(self, key: str) -> bytes:
        return bytes(obstore.get(self.store, key).bytes())
