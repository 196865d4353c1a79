"""The REST API's own defences on a real worker process: HTTP basic authentication (Kafka's
BasicAuthSecurityRestExtension with a JAAS-named credentials file) over TLS from PEM keys,
used by ``brook connectors``; and worker settings that would leave it open stop the start."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.connect.conftest import REPO, Worker, wait_until
from tests.e2e.connect.test_distributed import shared_settings, task_owners
from tests.e2e.connect.test_s3_sink import create_topic, sink_config

BIG = 300 * 1024 * 1024


def _make_tls(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "brook test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, chain, key_file = tmp_path / "ca.pem", tmp_path / "chain.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, chain, key_file


def test_basic_auth_and_tls(bootstrap: str, worker_factory: Any, tmp_path: Path) -> None:
    ca_file, chain, key_file = _make_tls(tmp_path)
    credentials = tmp_path / "credentials.properties"
    credentials.write_text("admin: s3cret\nreader=other\n")
    jaas = tmp_path / "connect-jaas.conf"
    jaas.write_text("KafkaConnect {\n  org.apache.kafka.connect.rest.basic.auth.extension."
                    f'PropertyFileLoginModule required\n  file="{credentials}";\n}};\n')
    worker = worker_factory(
        bootstrap, scheme="https", auth=("admin", "s3cret"), ca_file=str(ca_file), **{
            "listeners": "https://127.0.0.1:0",
            "rest.extension.classes":
                "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension",
            "java.security.auth.login.config": str(jaas),
            "listeners.https.ssl.keystore.type": "PEM",
            "listeners.https.ssl.keystore.certificate.chain": chain.read_text(),
            "listeners.https.ssl.keystore.key": key_file.read_text()})
    assert worker.request("GET", "/connectors") == (200, [])
    status, body = worker.request("GET", "/connectors", auth=("admin", "wrong"))
    assert (status, body["error_code"]) == (401, 401)
    assert worker.request("GET", "/", auth=("nobody", "s3cret"))[0] == 401
    assert worker.request("GET", "/", auth=("reader", "other"))[0] == 200
    plain = Worker(worker.bootstrap, tmp_path, port=worker.port, scheme="https",
                   ca_file=str(ca_file))
    assert plain.request("GET", "/")[0] == 401
    for path in ("/metrics", "/health", "/admin/loggers", "/connectors/x/topics"):
        assert plain.request("GET", path)[0] == 401, path
    assert plain.request("PUT", "/admin/loggers/root", {"level": "TRACE"})[0] == 401
    assert worker.request("GET", "/health")[1]["status"] == "healthy"
    # Unauthenticated, even a huge declared body is refused before anything is read.
    answer = _raw_request_tls(worker.port, ca_file)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]

    def cli(*args: str, password: str | None = "s3cret") -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if password is not None:
            env["BROOK_CONNECT_PASSWORD"] = password
        return subprocess.run([sys.executable, "-m", "brook", "connectors", *args,
                               "--url", worker.url, "--ca-file", str(ca_file)],
                              capture_output=True, text=True, timeout=60, env=env, cwd=REPO)

    ok = cli("list", "--user", "admin")
    assert ok.returncode == 0 and json.loads(ok.stdout) == [], ok.stderr
    denied = cli("list", "--user", "admin", password="nope")
    assert denied.returncode == 1 and "401" in denied.stderr
    unverified = subprocess.run([sys.executable, "-m", "brook", "connectors", "list", "--url",
                                 worker.url, "--user", "admin", "--password", "s3cret"],
                                capture_output=True, text=True, timeout=60, cwd=REPO)
    assert unverified.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr


def _raw_request_tls(port: int, ca_file: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"POST /connectors HTTP/1.1\r\nHost: x\r\nContent-Length: "
                         + str(BIG).encode() + b"\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            return answer


@pytest.mark.parametrize("setting", [
    {"rest.extension.classes":
     "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"},
    {"listeners": "https://127.0.0.1:0"},
    {"value.converter": "os.system"},
    {"config.providers": "file", "config.providers.file.class": "os.system"},
])
def test_unsafe_worker_settings_stop_the_start(bootstrap: str, tmp_path: Path,
                                               setting: dict[str, str]) -> None:
    """Auth without credentials, https without a keystore, unknown classes: no worker starts."""
    cmd = [sys.executable, "-m", "brook", "connect", "--bootstrap-server", bootstrap]
    for k, v in setting.items():
        cmd += ["--override", f"{k}={v}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert "brook connect: error:" in done.stderr


def test_forwarded_task_restart_carries_the_callers_credentials(
        bootstrap: str, s3: Any, worker_factory: Any, tmp_path: Path) -> None:
    """A restart of a task another worker runs is forwarded with the caller's Authorization."""
    credentials = tmp_path / "credentials.properties"
    credentials.write_text("admin: s3cret\n")
    settings = {**shared_settings(), "rest.basic.auth.credentials.file": str(credentials),
                "rest.extension.classes": "org.apache.kafka.connect.rest.basic.auth.extension."
                                          "BasicAuthSecurityRestExtension"}
    a = worker_factory(bootstrap, auth=("admin", "s3cret"), **settings)
    b = worker_factory(bootstrap, auth=("admin", "s3cret"), **settings)
    topic = f"fwd-{os.getpid()}-{a.port}"
    s3.client.create_bucket(Bucket="fwd")
    create_topic(bootstrap, topic, 2)
    status, body = a.request("PUT", "/connectors/fwd/config",
                             sink_config(topic, s3, "fwd", **{"tasks.max": "2"}))
    assert status == 201, body
    owners = wait_until(lambda: (o := task_owners(a, "fwd")) and len(set(o.values())) == 2 and o,
                        60, f"tasks on both workers\n{a.output()}\n{b.output()}")
    remote = next(t for t, w in owners.items() if w != f"127.0.0.1:{a.port}")
    assert a.request("POST", f"/connectors/fwd/tasks/{remote}/restart")[0] == 204
    assert a.request("POST", f"/connectors/fwd/tasks/{remote}/restart",
                     auth=("admin", "bad"))[0] == 401
