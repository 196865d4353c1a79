"""What stands between the network and the REST API: body limits, basic auth, TLS.

The REST API can create connectors, and connectors run code paths that touch the worker's
machine, so whoever reaches the port must be someone the operator meant to let in:

* ``BodyLimit`` answers 413 to a body larger than ``rest.request.max.bytes`` before reading
  it (declared ``Content-Length``) or as soon as it grows past the limit (chunked), so a
  client cannot make the worker buffer what it merely sends.
* ``BasicAuth`` is Kafka's ``BasicAuthSecurityRestExtension`` with its
  ``PropertyFileLoginModule``: a credentials file of ``user: password`` (or ``user=password``)
  lines, named by ``rest.basic.auth.credentials.file`` or, as in Kafka, by the ``file``
  option of the ``KafkaConnect`` entry of the JAAS file in ``java.security.auth.login.config``.
  Unlike Kafka, an empty credentials file, or a user with an empty password, is refused at
  start rather than letting everyone in.
* ``tls_options`` turns an ``https://`` listener's ``listeners.https.ssl.*`` keys (PEM
  keystores: a location, or the chain and key inline) into uvicorn's TLS settings.

Both checks are plain ASGI wrappers around the FastAPI app, so they run before any route,
and before any body is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from brook.cli.properties import PropertiesError, load_properties, parse_jaas_config
from brook.connect.runtime.worker_config import WorkerConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
HTTPS_PREFIX = "listeners.https."


class BodyTooLarge(Exception):
    """A request body grew past ``rest.request.max.bytes`` while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is larger than {limit} bytes (rest.request.max.bytes)")


async def send_error(send: Send, status: int, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error_code": status, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await send_error(send, 400, "Invalid Content-Length")
                return
            if size > self.max_bytes:
                await send_error(send, 413, str(BodyTooLarge(self.max_bytes)))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not started:
                await send_error(send, 413, str(exc))


def load_credentials(worker: WorkerConfig) -> dict[str, str]:
    """The user -> password map of the PropertyFileLoginModule file the worker names."""
    path = worker.get("rest.basic.auth.credentials.file")
    jaas = worker.get("java.security.auth.login.config")
    if not path and jaas:
        path = credentials_file_from_jaas(Path(jaas).read_text(encoding="utf-8"))
    if not path:
        raise ValueError("BasicAuthSecurityRestExtension needs rest.basic.auth.credentials.file "
                         "or a java.security.auth.login.config JAAS file with a KafkaConnect "
                         "entry")
    credentials = load_properties(str(path))
    if not credentials:
        raise ValueError(f"credentials file {path} has no users; refusing to serve without "
                         "authentication")
    empty = sorted(user for user, password in credentials.items() if not password)
    if empty:  # a line with a user alone means "this user, no password": anyone's login
        raise ValueError(f"credentials file {path}: user(s) {', '.join(empty)} have an empty "
                         "password")
    return credentials


def credentials_file_from_jaas(text: str) -> str:
    """The ``file`` option of the ``KafkaConnect { ...PropertyFileLoginModule ... };`` entry."""
    match = re.search(r"\bKafkaConnect\s*\{(.*?)\}\s*;", text, re.DOTALL)
    if match is None:
        raise ValueError("JAAS file has no KafkaConnect entry")
    try:
        entries = parse_jaas_config(match.group(1))
    except PropertiesError as exc:
        raise ValueError(f"JAAS file: {exc}") from exc
    for entry in entries:
        if entry.short_name == "PropertyFileLoginModule" and entry.options.get("file"):
            return entry.options["file"]
    raise ValueError("JAAS KafkaConnect entry names no PropertyFileLoginModule file")


class BasicAuth:
    REALM = b'Basic realm="KafkaConnect"'

    def __init__(self, app: ASGIApp, credentials: dict[str, str]) -> None:
        self.app = app
        self.credentials = {u.encode(): p.encode() for u, p in credentials.items()}

    def allowed(self, header: bytes | None) -> bool:
        if header is None or not header[:6].lower() == b"basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        expected = self.credentials.get(user)
        # Compare digests, and against something even for unknown users, so that the time taken
        # tells neither the password's length nor whether the user exists.
        ok = hmac.compare_digest(hashlib.sha256(password).digest(),
                                 hashlib.sha256(expected if expected is not None else b"").digest())
        return bool(sep) and expected is not None and ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(_header(scope, b"authorization")):
            await send_error(send, 401, "User cannot access the resource.",
                             [(b"www-authenticate", self.REALM)])
            return
        await self.app(scope, receive, send)


def _ssl(worker: WorkerConfig, key: str) -> str | None:
    value = worker.originals.get(HTTPS_PREFIX + key)
    return value if value else None


def tls_options(worker: WorkerConfig, scratch: Path) -> dict[str, Any]:
    """uvicorn's ``ssl_*`` settings for an https listener (PEM keystores only).

    Inline PEM (``ssl.keystore.certificate.chain``/``ssl.keystore.key``) is written to private
    files under ``scratch`` because the ``ssl`` module loads certificates from files.
    """
    kind = (_ssl(worker, "ssl.keystore.type") or "PEM").upper()
    if kind != "PEM":
        raise ValueError(f"{HTTPS_PREFIX}ssl.keystore.type={kind}: only PEM keystores are "
                         "supported")

    def pem(location_key: str, inline_key: str, name: str) -> str | None:
        location = _ssl(worker, location_key)
        if location:
            return location
        inline = _ssl(worker, inline_key)
        if not inline:
            return None
        path = scratch / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(inline)
        return str(path)

    certfile = pem("ssl.keystore.location", "ssl.keystore.certificate.chain", "chain.pem")
    if certfile is None:
        raise ValueError(f"an https listener needs {HTTPS_PREFIX}ssl.keystore.location or "
                         f"{HTTPS_PREFIX}ssl.keystore.certificate.chain and ssl.keystore.key")
    options: dict[str, Any] = {"ssl_certfile": certfile,
                               "ssl_keyfile": pem("ssl.keystore.key.location",
                                                  "ssl.keystore.key", "key.pem"),
                               "ssl_keyfile_password": _ssl(worker, "ssl.key.password")}
    cafile = pem("ssl.truststore.location", "ssl.truststore.certificates", "trust.pem")
    client_auth = (_ssl(worker, "ssl.client.auth") or "none").lower()
    if client_auth not in ("none", "requested", "required"):
        raise ValueError(f"{HTTPS_PREFIX}ssl.client.auth must be none, requested or required")
    if client_auth != "none":
        if cafile is None:
            raise ValueError("ssl.client.auth needs a truststore")
        options["ssl_ca_certs"] = cafile
        options["ssl_cert_reqs"] = (ssl.CERT_REQUIRED if client_auth == "required"
                                    else ssl.CERT_OPTIONAL)
    # Fail at start, not at the first connection, when the files do not fit together.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, options["ssl_keyfile"], options["ssl_keyfile_password"])
    return options


def client_context(worker: WorkerConfig) -> ssl.SSLContext | None:
    """How this worker verifies a peer worker's https listener when it forwards a request."""
    if worker.listener.scheme != "https":
        return None
    cafile = _ssl(worker, "ssl.truststore.location")
    inline = _ssl(worker, "ssl.truststore.certificates")
    return ssl.create_default_context(cafile=cafile, cadata=inline)


def secure(app: ASGIApp, worker: WorkerConfig) -> ASGIApp:
    """The app as served: authentication first, then the body limit, then the routes."""
    wrapped: ASGIApp = BodyLimit(app, int(worker.get("rest.request.max.bytes")))
    if worker.basic_auth:
        wrapped = BasicAuth(wrapped, load_credentials(worker))
    return wrapped


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="brook-connect-tls-"))
