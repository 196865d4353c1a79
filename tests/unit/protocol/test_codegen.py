"""The generator: committed output is current, and the schema quirks are understood."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.protocol import REPO_ROOT, SCHEMAS
from tools.codegen.__main__ import generate, generate_client, write
from tools.codegen.emit_module import HEADER
from tools.codegen.layout import PACKAGES
from tools.codegen.loader import parse_schema, read_json
from tools.codegen.model import NO_VERSION, Versions, python_name

OUT = REPO_ROOT / "src" / "brook" / "protocol"
TEST_OUT = REPO_ROOT / "tests" / "protocol_codec"
needs_schemas = pytest.mark.skipif(not SCHEMAS.is_dir(), reason="../shared/kafka-protocol absent")


@needs_schemas
def test_regeneration_is_a_no_op(tmp_path: Path) -> None:
    files = generate(SCHEMAS, tmp_path)
    assert write(files, tmp_path) == len(files)
    assert write(files, tmp_path) == 0  # a second run changes nothing
    committed = {
        p.relative_to(OUT): p.read_text("utf-8")
        for package in PACKAGES
        for p in sorted((OUT / package).glob("*.py"))
    }
    fresh = {p.relative_to(tmp_path): p.read_text("utf-8") for p in sorted(tmp_path.rglob("*.py"))}
    assert sorted(committed) == sorted(fresh)
    stale = [str(rel) for rel, text in fresh.items() if committed[rel] != text]
    assert not stale, f"run `make codegen`: {stale[:5]}"
    assert all(text.startswith(HEADER) for text in fresh.values())


@needs_schemas
def test_test_only_codec_regeneration_is_a_no_op(tmp_path: Path) -> None:
    files = generate_client(SCHEMAS)
    assert write(files, tmp_path, packages=(".",)) == len(files)
    committed = {p.relative_to(TEST_OUT): p.read_text("utf-8") for p in sorted(TEST_OUT.glob("*.py"))}
    fresh = {p.relative_to(tmp_path): p.read_text("utf-8") for p in sorted(tmp_path.glob("*.py"))}
    assert sorted(committed) == sorted(fresh)
    stale = [str(rel) for rel, text in fresh.items() if committed[rel] != text]
    assert not stale, f"run `make codegen`: {stale[:5]}"


def test_versions_parse() -> None:
    assert Versions.parse("3+") == Versions(3, NO_VERSION)
    assert Versions.parse("1-4") == Versions(1, 4)
    assert Versions.parse("2") == Versions(2, 2)
    assert Versions.parse("none").empty
    assert Versions.parse(None).empty
    assert 5 in Versions.parse("3+") and 2 not in Versions.parse("3+")


def test_python_names() -> None:
    assert python_name("ThrottleTimeMs") == "throttle_time_ms"
    assert python_name("IsInternal") == "is_internal"
    assert python_name("TopicId") == "topic_id"
    assert python_name("ZkMigrationReady") == "zk_migration_ready"
    assert python_name("IncludeClusterAuthorizedOperations") == "include_cluster_authorized_operations"
    assert python_name("KRaftVersion") == "kraft_version"
    assert python_name("isKRaftController") == "is_kraft_controller"
    assert python_name("Type") == "type_"
    assert python_name("Id") == "id_"


def test_schema_quirks() -> None:
    data = {
        "type": "data",
        "name": "Quirky",
        "validVersions": "0-2",
        "flexibleVersions": "1+",
        "fields": [
            {"name": "A", "type": "int32", "versions": "0+", "default": "0x7fffffff"},
            {"name": "B", "type": "int64", "taggedVersions": "1+", "tag": "2", "default": -1},
            {"name": "C", "type": "string", "versions": "0+", "flexibleVersions": "none"},
            {"name": "D", "type": "bool", "versions": "0+", "default": "true"},
            {"name": "E", "type": "[]Shared", "versions": "0+"},
            {"name": "F", "type": "Inner", "versions": "1+", "nullableVersions": "1+",
             "default": "null", "fields": [{"name": "G", "type": "records", "versions": "0+"}]},
        ],
        "commonStructs": [{"name": "Shared", "versions": "0+",
                           "fields": [{"name": "H", "type": "uuid", "versions": "0+"}]}],
    }
    schema = parse_schema(data, "clients")
    a, b, c, d, e, f = schema.top.fields
    assert a.default == 0x7FFFFFFF
    assert b.tag == 2 and b.versions == Versions(1, NO_VERSION)
    assert not c.flexible_at(2, True) and a.flexible_at(2, True)
    assert d.default is True
    assert e.struct is not None and e.struct.name == "Shared"
    assert f.struct is not None and f.optional and f.struct.chunked and schema.top.chunked
    assert f.struct.versions == {1, 2}


@needs_schemas
def test_real_schema_quirks() -> None:
    txn = parse_schema(read_json(SCHEMAS / "transaction-coordinator/TransactionLogValue.json"), "x")
    untagged_versionless = [f for f in txn.top.fields if f.tag is not None]
    assert {f.tag for f in untagged_versionless} == {0, 1, 2}
    header = parse_schema(read_json(SCHEMAS / "clients/RequestHeader.json"), "clients")
    client_id = header.top.fields[-1]
    assert client_id.flexible_override is not None and client_id.flexible_override.empty
