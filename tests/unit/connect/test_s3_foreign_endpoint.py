"""A ``store.url`` is any host a REST caller names: it must not receive the worker's own AWS
credentials, and what it answers must not come back through the task's trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from brook.connect.api import ConnectException
from brook.connect.connectors.s3.storage import ObjectWriter

INTERNAL = b"internal-page: db password is hunter2"
S3_ERROR = (b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Access Denied"
            b"</Message></Error>")


class Endpoint(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []
    body: ClassVar[bytes] = INTERNAL

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(403)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWORKEROWN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "WORKER-SESSION-TOKEN")
    monkeypatch.delenv("BROOK_S3_DEFAULT_STORE_URL", raising=False)
    Endpoint.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _put(config: dict[str, Any]) -> str:
    writer = ObjectWriter({"s3.bucket.name": "bkt", "s3.part.retries": 0, **config})
    with pytest.raises(ConnectException) as err:
        writer.put("topics/t/x.json", b"{}")
    return str(err.value)


def test_a_named_endpoint_gets_no_worker_credentials(endpoint: str) -> None:
    reason = _put({"store.url": endpoint})
    assert Endpoint.seen, "the endpoint was never asked"
    for headers in Endpoint.seen:
        assert "authorization" not in headers and "x-amz-security-token" not in headers
        assert "AKIAWORKEROWN" not in str(headers)
    assert "hunter2" not in reason and "403" in reason


def test_the_connectors_own_keys_are_used(endpoint: str) -> None:
    _put({"store.url": endpoint, "aws.access.key.id": "AKIACONNECTOR",
          "aws.secret.access.key": "s"})
    assert all("AKIACONNECTOR" in h["authorization"] for h in Endpoint.seen)
    assert all("x-amz-security-token" not in h for h in Endpoint.seen)


def test_an_s3_error_keeps_its_code_and_message(endpoint: str) -> None:
    Endpoint.body = S3_ERROR
    try:
        reason = _put({"store.url": endpoint})
    finally:
        Endpoint.body = INTERNAL
    assert "AccessDenied" in reason and "Access Denied" in reason
