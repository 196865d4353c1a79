"""brook's Connect worker and Kafka's own answer the validate and create requests of
transformation and predicate configs the same: the same keys in error, the same messages.
(A required key that is missing is checked by its validator too in Kafka; where that produces
a ``NullPointerException``'s text, as for ``RegexRouter``'s ``regex``, brook does not copy it,
so no such case is here.)

A Kafka 4.3.1 Connect worker (``ConnectDistributed``, its built-in transformations and
FileStream connectors from the classpath) and a brook worker run against one brook broker.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.connect.conftest import fixture_worker_factory
from tests.support.brokers import free_port
from tests.support.java import JavaProcess

__all__ = ["fixture_worker_factory"]  # the brook worker, as the connect tests start it

T = "org.apache.kafka.connect.transforms."
P = "org.apache.kafka.connect.transforms.predicates."
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"
BASE = {"connector.class": SINK, "name": "ref", "topics": "t", "file": ""}
CONFIGS: list[dict[str, str]] = [
    {"transforms": "x", "transforms.x.type": "com.example.NotThere"},
    {"transforms": "x"},
    {"transforms": "c", "transforms.c.type": T + "Cast"},
    {"transforms": "r", "transforms.r.type": T + "RegexRouter", "transforms.r.regex": "(",
     "transforms.r.replacement": "x"},
    {"transforms": "c", "transforms.c.type": T + "Cast$Value", "transforms.c.spec": "a:nope"},
    {"transforms": "c", "transforms.c.type": T + "Cast$Value", "transforms.c.spec": "a:bytes"},
    {"transforms": "m", "transforms.m.type": T + "MaskField$Value"},
    {"transforms": "v", "transforms.v.type": T + "ValueToKey", "transforms.v.fields": ""},
    {"transforms": "h", "transforms.h.type": T + "HeaderFrom$Value", "transforms.h.fields": "a",
     "transforms.h.headers": "b", "transforms.h.operation": "swap"},
    {"transforms": "t", "transforms.t.type": T + "TimestampConverter$Value",
     "transforms.t.target.type": "nope"},
    {"transforms": "f,f", "transforms.f.type": T + "Filter"},
    {"transforms": "f", "transforms.f.type": T + "Filter", "transforms.f.negate": "true"},
    {"transforms": "f", "transforms.f.type": T + "Filter", "transforms.f.predicate": "p",
     "predicates": "p", "predicates.p.type": P + "TopicNameMatches", "predicates.p.pattern": "("},
    {"transforms": "f", "transforms.f.type": T + "Filter", "transforms.f.predicate": "p",
     "predicates": "p", "predicates.p.type": P + "HasHeaderKey"},
    {"transforms": "h", "transforms.h.type": T + "DropHeaders"},
    {"predicates": "p", "predicates.p.type": "com.example.Nope"},
    {"transforms": "ok", "transforms.ok.type": T + "InsertField$Value",
     "transforms.ok.static.field": "s", "transforms.ok.static.value": "v"},
]


def _request(port: int, method: str, path: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(name="kafka_connect", scope="module")
def fixture_kafka_connect(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    d = tmp_path_factory.mktemp("kafka-connect")
    props = d / "connect-distributed.properties"
    props.write_text("\n".join([
        f"bootstrap.servers={bootstrap}", f"group.id=kc-ref-{port}",
        f"config.storage.topic=kc-ref-{port}-configs", f"offset.storage.topic=kc-ref-{port}-offsets",
        f"status.storage.topic=kc-ref-{port}-status",
        "config.storage.replication.factor=1", "offset.storage.replication.factor=1",
        "status.storage.replication.factor=1", "offset.storage.partitions=1",
        "status.storage.partitions=1",
        "key.converter=org.apache.kafka.connect.json.JsonConverter",
        "value.converter=org.apache.kafka.connect.json.JsonConverter",
        f"listeners=http://127.0.0.1:{port}", "plugin.discovery=only_scan", ""]))
    worker = JavaProcess("org.apache.kafka.connect.cli.ConnectDistributed", args=[str(props)],
                         heap="384m", cwd=d)
    worker.start("Kafka Connect started", timeout=180)
    try:
        yield port
    finally:
        worker.stop()


def _same_text(message: str) -> str:
    """What a regular expression's syntax error says is the JVM's or Python's own text."""
    return re.sub(r"Invalid regex: .*", "Invalid regex: ...", message, flags=re.S)


def _errors(infos: dict[str, Any]) -> dict[str, list[str]]:
    return {c["value"]["name"]: [_same_text(e) for e in c["value"]["errors"]]
            for c in infos["configs"]
            if c["value"]["errors"] and c["value"]["name"].startswith(("transforms", "predicates"))}


@pytest.mark.slow
def test_validate_and_create_answer_like_kafka(kafka_connect: int, worker_factory: Any,
                                               bootstrap: str, tmp_path: Path) -> None:
    brook = worker_factory(bootstrap, **{"file.connectors.enable": "true",
                                         "file.connectors.allowed.dirs": str(tmp_path)})
    sink = {**BASE, "file": str(tmp_path / "out.txt")}
    differences = []
    for extra in CONFIGS:
        config = {**sink, **extra}
        kafka_status, kafka_infos = _request(kafka_connect, "PUT",
                                             f"/connector-plugins/{SINK}/config/validate", config)
        status, infos = brook.request("PUT", f"/connector-plugins/{SINK}/config/validate", config)
        if (status, _errors(infos)) != (kafka_status, _errors(kafka_infos)):
            differences.append(("validate", extra, (status, _errors(infos)),
                                (kafka_status, _errors(kafka_infos))))
        kafka_create = _request(kafka_connect, "POST", "/connectors", {"name": "ref",
                                                                      "config": config})
        create = brook.request("POST", "/connectors", {"name": "ref", "config": config})
        if create[0] != kafka_create[0] or (create[0] == 400 and _same_text(
                create[1]["message"]) != _same_text(kafka_create[1]["message"])):
            differences.append(("create", extra, create, kafka_create))
        _request(kafka_connect, "DELETE", "/connectors/ref", None)
        brook.request("DELETE", "/connectors/ref")
    assert differences == [], json.dumps(differences, indent=1)
