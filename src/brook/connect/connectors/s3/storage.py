"""Object access through obstore: a real S3 API endpoint or a local directory.

``store.url=http(s)://...`` (or none: AWS itself) gives an ``S3Store`` with path-style requests;
credentials come from ``aws.access.key.id``/``aws.secret.access.key`` or the usual AWS
environment variables. ``store.url=file:///dir`` writes ``<dir>/<bucket>/<key>``, only where
the worker allows (``names.local_root``). Uploads larger than ``s3.part.size`` are multipart,
so an object appears whole or not at all.

A failed write is retried ``s3.part.retries`` times, the first after ``s3.retry.backoff.ms``
and each next one after twice the previous wait (Confluent's semantics). When the store still
refuses, the write fails for good with the store's reason: the task is FAILED with that reason
as its trace, instead of RUNNING while it retries forever; ``POST
/connectors/<name>/restart?includeTasks=true&onlyFailed=true`` resumes it once the store is
fixed, from the last committed offset.
"""

from __future__ import annotations

import os
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
    key = config.get("aws.access.key.id") or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = config.get("aws.secret.access.key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        kwargs.update(access_key_id=str(key), secret_access_key=str(secret))
        if os.environ.get("AWS_SESSION_TOKEN") and not config.get("aws.access.key.id"):
            kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
    client_options: Any = {}
    if url:
        kwargs["endpoint"] = url.rstrip("/")
        kwargs["virtual_hosted_style_request"] = not bool(
            config.get("s3.path.style.access.enabled", True))
        if url.startswith("http://"):
            client_options["allow_http"] = True
    return S3Store(bucket, client_options=client_options or None, **kwargs)


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
                                           f"{attempt + 1} attempt(s): {exc}") from exc

    def get(self, key: str) -> bytes:
        return bytes(obstore.get(self.store, key).bytes())
