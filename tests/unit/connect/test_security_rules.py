"""The resolvers and validators that keep REST input from reaching code, files and paths."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from brook.connect.api import (
    ConfigDef,
    ConfigException,
    SinkConnector,
    SinkTask,
    Task,
    WorkerPolicy,
    confine,
    policy,
)
from brook.connect.connectors.s3.names import bucket_problem, check_store_url, key_problem
from brook.connect.runtime import plugins
from brook.connect.runtime.connector_config import alias_class_problems
from brook.connect.runtime.herder import Herder
from brook.connect.runtime.kafka_log import MemoryLog
from brook.connect.runtime.rest import create_app
from brook.connect.runtime.rest_security import (
    BasicAuth,
    credentials_file_from_jaas,
    load_credentials,
    secure,
)
from brook.connect.runtime.sink_offsets import MemorySinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.validation import RestError, check_connector_name
from brook.connect.runtime.worker_config import WorkerConfig, parse_listener

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    yield
    policy.install(WorkerPolicy())
    plugins.enable_examples(False)


def test_connector_class_resolves_only_installed_plugins() -> None:
    assert plugins.resolve("S3SinkConnector").class_name == "io.confluent.connect.s3.S3SinkConnector"
    assert plugins.resolve("io.confluent.connect.s3.S3SinkConnector").load().__name__ == \
        "S3SinkConnector"
    for name in ("os.system", "os:system", "brook.connect.connectors.s3.connector:S3SinkConnector",
                 "brook.connect.connectors.file.sink.FileStreamSinkConnector", "pwned.Evil"):
        with pytest.raises(plugins.UnknownPlugin, match="Failed to find any class"):
            plugins.resolve(name)


def test_file_examples_need_enabling() -> None:
    with pytest.raises(plugins.UnknownPlugin, match=r"file\.connectors\.enable"):
        plugins.resolve("FileStreamSink")
    plugins.enable_examples(True)
    assert plugins.resolve("FileStreamSink").class_name == plugins.FILE_SINK_CLASS


def test_transform_and_predicate_classes_are_refused_by_name() -> None:
    problems = alias_class_problems({"transforms": "a, b", "transforms.a.type": "os.system",
                                     "predicates": "p"})
    assert [(p.name, p.reason) for p in problems] == [
        ("transforms.a.type", "Class os.system could not be found."),
        ("transforms.b.type", 'Missing required configuration "transforms.b.type" which has '
                              "no default value."),
        ("predicates.p.type", 'Missing required configuration "predicates.p.type" which has '
                              "no default value.")]
    assert alias_class_problems({"transforms": ""}) == []


@pytest.mark.parametrize("name", ["", "   ", "a\x00", "tab\tname", "\x85next", "..", ".", "a/b"])
def test_bad_connector_names(name: str) -> None:
    with pytest.raises(RestError) as err:
        check_connector_name(name)
    assert err.value.status == 400


@pytest.mark.parametrize("name", ["名前", "s3-sink", "a.b", "...", "with space", "a%2Fb"])
def test_good_connector_names(name: str) -> None:
    assert check_connector_name(name) == name


@pytest.mark.parametrize("bucket", ["my-bucket", "abc", "a.b.c", "tutorial-bucket", "b" * 63,
                                    "1bucket9"])
def test_valid_buckets(bucket: str) -> None:
    assert bucket_problem(bucket) is None


@pytest.mark.parametrize("bucket", ["b", "ab", "b" * 64, "../../x", "/abs", "Upper", "a_b",
                                    "-abc", "abc-", "a..b", "a.-b", "192.168.1.1", "xn--abc",
                                    "abc-s3alias", "a/b", "abc\x00"])
def test_invalid_buckets(bucket: str) -> None:
    assert bucket_problem(bucket) is not None


@pytest.mark.parametrize("key", ["topics/t/partition=0/t+0+0000000000.json", "a/b.c/d..e"])
def test_valid_keys(key: str) -> None:
    assert key_problem(key) is None


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "../x", "a/./b", "a//b", "a/b/",
                                 "a\x00b", "a\nb", "a\\..\\b", "\\abs"])
def test_invalid_keys(key: str) -> None:
    assert key_problem(key) is not None


def test_confine_resolves_symlinks_and_refuses_dot_dot(tmp_path: Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "out").symlink_to(outside)
    assert confine("file", str(allowed / "new" / "f.txt"), [allowed]) == \
        allowed.resolve() / "new" / "f.txt"
    for path in (str(outside / "f"), str(allowed / ".." / "outside" / "f"),
                 str(allowed / "out" / "f"), "relative/f", "", "/etc/passwd", "/tmp/a\x00"):
        with pytest.raises(ConfigException):
            confine("file", path, [allowed])
    with pytest.raises(ConfigException, match="No local directory"):
        confine("file", str(allowed / "f"), [])


def test_file_store_url_only_under_worker_roots(tmp_path: Path) -> None:
    with pytest.raises(ConfigException):
        check_store_url("store.url", tmp_path.as_uri())
    policy.install(WorkerPolicy(store_roots=(tmp_path,)))
    check_store_url("store.url", (tmp_path / "s3").as_uri())
    check_store_url("store.url", "http://127.0.0.1:9000")
    for url in ((tmp_path.parent / "x").as_uri(), tmp_path.as_uri() + "/../x", "ftp://h/x"):
        with pytest.raises(ConfigException):
            check_store_url("store.url", url)


def test_rest_binds_loopback_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (WorkerConfig({}).rest_host, WorkerConfig({}).rest_port) == ("127.0.0.1", 8083)
    assert WorkerConfig({"rest.host.name": "0.0.0.0"}).rest_host == "0.0.0.0"
    assert WorkerConfig({"rest.advertised.host.name": "worker-1.example"}).rest_host == "0.0.0.0"
    assert WorkerConfig({"rest.advertised.host.name": "localhost"}).rest_host == "127.0.0.1"
    assert WorkerConfig({"listeners": "http://:8084"}).rest_host == "0.0.0.0"
    listener = WorkerConfig({"listeners": "https://[::1]:8443"}).listener
    assert (listener.scheme, listener.host, listener.port) == ("https", "::1", 8443)
    for bad in ("ftp://h:1", "http://h", "http://h:99999", "h:1"):
        with pytest.raises(ValueError):
            parse_listener(bad)


def test_worker_refuses_unknown_classes() -> None:
    for props in ({"value.converter": "os.system"}, {"rest.extension.classes": "x.Y"},
                  {"config.providers": "f", "config.providers.f.class": "os.system"}):
        with pytest.raises(ValueError, match="could not be found"):
            WorkerConfig(props)


def test_credentials_from_jaas_and_properties(tmp_path: Path) -> None:
    creds = tmp_path / "creds.properties"
    creds.write_text("# users\nadmin: s3cret\nbob=pw\n")
    jaas = ("KafkaConnect {\n org.apache.kafka.connect.rest.basic.auth.extension."
            f'PropertyFileLoginModule required\n file="{creds}";\n}};\n')
    assert credentials_file_from_jaas(jaas) == str(creds)
    (tmp_path / "jaas.conf").write_text(jaas)
    auth = WorkerConfig({"rest.extension.classes": "org.apache.kafka.connect.rest.basic.auth."
                         "extension.BasicAuthSecurityRestExtension",
                         "java.security.auth.login.config": str(tmp_path / "jaas.conf")})
    assert load_credentials(auth) == {"admin": "s3cret", "bob": "pw"}
    (tmp_path / "empty").write_text("# nobody\n")
    with pytest.raises(ValueError, match="no users"):
        load_credentials(WorkerConfig({"rest.basic.auth.credentials.file": str(tmp_path / "empty")}))
    with pytest.raises(ValueError, match="KafkaConnect"):
        credentials_file_from_jaas("KafkaServer { x required; };")

    def basic(text: str) -> bytes:
        return b"Basic " + base64.b64encode(text.encode())

    gate = BasicAuth(create_app, {"admin": "s3cret"})  # type: ignore[arg-type]
    assert gate.allowed(basic("admin:s3cret"))
    for header in (None, basic("admin:wrong"), basic("admin"), basic("eve:s3cret"), b"Basic !!",
                   b"Bearer x"):
        assert not gate.allowed(header)


class IdleConnector(SinkConnector):
    """A sink without tasks: the REST layer and herder run, no Kafka client does."""

    def config(self) -> ConfigDef:
        return ConfigDef()

    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_class(self) -> type[Task]:
        return SinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return []

    def stop(self) -> None:
        pass


def _client(max_bytes: int = 1024) -> TestClient:
    worker = WorkerConfig({"rest.request.max.bytes": str(max_bytes)})
    herder = Herder(worker, ConfigStore(MemoryLog()), OffsetStore(MemoryLog()),
                    StatusStore(MemoryLog(), "127.0.0.1:8083"), MemorySinkOffsets())
    return TestClient(secure(create_app(herder), worker))  # type: ignore[arg-type]


def test_body_limit_declared_and_chunked() -> None:
    c = _client()
    r = c.post("/connectors", content=b"x" * 2000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error_code"] == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 100

    r = c.post("/connectors", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = c.post("/connectors", content=b"[" * 1000, headers={"content-type": "application/json"})
    assert r.status_code == 400


def test_names_through_rest() -> None:
    plugins.register("test.Idle", IdleConnector)
    c = _client(1 << 20)
    config = {"connector.class": "test.Idle", "topics": "t"}
    r = c.post("/connectors", json={"name": "bad\x01", "config": config})
    assert r.status_code == 400
    r = c.post("/connectors", json={"name": "x", "config": config, "initial_state": 7})
    assert r.status_code == 400
    assert c.get("/connectors").json() == []
    r = c.post("/connectors", json={"name": " 名前 ", "config": config})
    assert r.status_code == 201 and r.headers["location"] == "/connectors/%E5%90%8D%E5%89%8D"
    assert c.get("/connectors").json() == ["名前"]
    assert c.delete("/connectors/%2e%2e").status_code == 404


BAD_BODIES = [None, b"", b"null", b"1", b'"s"', b"[]", b"{}", b'{"config": 1}',
              b'{"name": [], "config": {}}', b'{"name": "x", "config": {"connector.class": 5}}',
              b'{"name": "x", "config": {"connector.class": "test.Idle", "tasks.max": "x"}}',
              b'{"offsets": 1}', b'{"offsets": [1]}', b'{"offsets": [{"partition": 1}]}',
              b'{"offsets": [{"partition": {}, "offset": []}]}',
              b'{"offsets": [{"partition": {"kafka_topic": "t", "kafka_partition": "x"}, '
              b'"offset": {"kafka_offset": 1}}]}', b'{"connector.class": {"a": 1}}', b"\xff",
              b'{"name": "x", "config": {"connector.class": "test.Idle"}, "initial_state": []}']
PATHS = ["/connectors", "/connectors/a", "/connectors/a/config", "/connectors/a/offsets",
         "/connectors/a/restart?includeTasks=maybe", "/connectors/a/tasks/99999999999999999999/restart",
         "/connectors/a/tasks/-1/status", "/connector-plugins/test.Idle/config/validate",
         "/connector-plugins/os.system/config", "/connectors/a/pause", "/connectors/zz/offsets",
         "/connectors/a/stop", "/connectors?expand=zz", "/connectors/%00/status"]


def test_bad_input_never_answers_500() -> None:
    plugins.register("test.Idle", IdleConnector)
    c = _client(1 << 20)
    idle = {"name": "a", "config": {"connector.class": "test.Idle", "topics": "t"}}
    failures = []
    for path in PATHS:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            for body in BAD_BODIES:
                if "a" not in c.get("/connectors").json():
                    c.post("/connectors", json=idle)
                    c.put("/connectors/a/stop")
                r = c.request(method, path, content=body,
                              headers={"content-type": "application/json"})
                if r.status_code >= 500:
                    failures.append((method, path, body, r.status_code, r.text[:100]))
    assert failures == []


def test_tls_options_from_pem(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from brook.connect.runtime.rest_security import tls_options

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    both = tmp_path / "both.pem"
    both.write_text(cert_pem + key_pem)
    https = {"listeners": "https://127.0.0.1:8443"}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    options = tls_options(WorkerConfig({**https, "listeners.https.ssl.keystore.location":
                                        str(both)}), tmp_path)
    assert options["ssl_certfile"] == str(both) and options["ssl_keyfile"] is None
    inline = tls_options(WorkerConfig({**https, "listeners.https.ssl.keystore.certificate.chain":
                                       cert_pem, "listeners.https.ssl.keystore.key": key_pem}),
                         scratch)
    assert Path(inline["ssl_keyfile"]).stat().st_mode & 0o077 == 0  # private to the worker
    for bad in ({"listeners.https.ssl.keystore.type": "JKS"}, {},
                {"listeners.https.ssl.keystore.location": str(both),
                 "listeners.https.ssl.client.auth": "required"}):
        with pytest.raises(ValueError):
            tls_options(WorkerConfig({**https, **bad}), tmp_path)
