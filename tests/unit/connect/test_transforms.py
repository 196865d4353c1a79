"""Kafka's built-in transformations and predicates, with cases from Kafka's documentation."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from brook.connect.api import (
    ConfigException,
    DataException,
    Headers,
    RetriableException,
    SinkRecord,
    SourceRecord,
)
from brook.connect.runtime import plugins, validation
from brook.connect.runtime.errors import ErrorHandler, ToleranceExceeded
from brook.connect.runtime.transformation_chain import TransformationChain
from brook.connect.transforms import BUILTIN_TRANSFORMATIONS, Predicate, Transformation

T = "org.apache.kafka.connect.transforms."
P = "org.apache.kafka.connect.transforms.predicates."
STRUCT = {"type": "struct", "optional": False, "fields": [
    {"field": "id", "type": "int32", "optional": False},
    {"field": "name", "type": "string", "optional": True},
    {"field": "price", "type": "string", "optional": True}]}


def make(cls_name: str, **configs: Any) -> Transformation:
    cls = plugins.resolve_transformation(cls_name)
    assert cls is not None, cls_name
    t = cls()
    t.configure({k.replace("_", "."): v for k, v in configs.items()})
    return t


def sink(value: Any, value_schema: Any = None, key: Any = None, key_schema: Any = None,
         topic: str = "orders", **kw: Any) -> SinkRecord:
    return SinkRecord(topic=topic, kafka_partition=3, key=key, value=value, timestamp=1700000000123,
                      key_schema=key_schema, value_schema=value_schema, kafka_offset=42, **kw)


def test_insert_field_schemaless_and_with_schema() -> None:
    t = make(T + "InsertField$Value", static_field="MessageSource",
             static_value="Kafka Connect framework", topic_field="topic!",
             partition_field="part", offset_field="off", timestamp_field="ts")
    out = t.apply(sink({"a": 1}))
    assert out is not None and out.value == {
        "a": 1, "MessageSource": "Kafka Connect framework", "topic": "orders", "part": 3,
        "off": 42, "ts": 1700000000123}
    out = t.apply(sink({"id": 7, "name": None, "price": "9.5"}, STRUCT))
    assert out is not None and out.value_schema is not None
    fields = {f["field"]: f for f in out.value_schema["fields"]}
    assert fields["topic"]["optional"] is False and fields["part"]["type"] == "int32"
    assert fields["ts"]["name"] == "org.apache.kafka.connect.data.Timestamp"
    assert out.value["topic"] == "orders" and out.value["off"] == 42
    assert t.apply(sink(None)) is not None  # a tombstone passes untouched
    with pytest.raises(DataException, match="Only SinkRecord"):
        t.apply(SourceRecord(topic="x", kafka_partition=None, key=None, value={"a": 1}))
    with pytest.raises(DataException, match=r"Only Map objects supported.*found: java.lang.String"):
        t.apply(sink("text"))
    with pytest.raises(ConfigException, match="No field insertion configured"):
        make(T + "InsertField$Value")


def test_replace_field_include_exclude_renames() -> None:
    value = {"foo": 1, "bar": 2, "baz": 3}
    assert make(T + "ReplaceField$Value", exclude="bar").apply(sink(value)).value == {  # type: ignore[union-attr]
        "foo": 1, "baz": 3}
    assert make(T + "ReplaceField$Value", include="foo,bar").apply(sink(value)).value == {  # type: ignore[union-attr]
        "foo": 1, "bar": 2}
    out = make(T + "ReplaceField$Value", renames="foo:c1,bar:c2").apply(sink(value))
    assert out is not None and out.value == {"c1": 1, "c2": 2, "baz": 3}
    out = make(T + "ReplaceField$Value", exclude="price", renames="id:order_id").apply(
        sink({"id": 7, "name": "x", "price": "1"}, STRUCT))
    assert out is not None and [f["field"] for f in out.value_schema["fields"]] == [  # type: ignore[index]
        "order_id", "name"] and out.value == {"order_id": 7, "name": "x"}
    with pytest.raises(ConfigException, match="Invalid rename mapping: foo"):
        make(T + "ReplaceField$Value", renames="foo")
    assert make(T + "ReplaceField$Value", blacklist="foo").apply(sink(value)).value == {  # type: ignore[union-attr]
        "bar": 2, "baz": 3}


def test_mask_field() -> None:
    value = {"s": "secret", "i": 5, "f": 1.5, "b": True, "l": [1], "keep": "x"}
    out = make(T + "MaskField$Value", fields="s,i,f,b,l").apply(sink(value))
    assert out is not None and out.value == {"s": "", "i": 0, "f": 0.0, "b": False, "l": [],
                                             "keep": "x"}
    out = make(T + "MaskField$Value", fields="s,i", replacement="0000").apply(sink(value))
    assert out is not None and out.value["s"] == "0000" and out.value["i"] == 0
    with pytest.raises(DataException, match="Unable to convert"):
        make(T + "MaskField$Value", fields="i", replacement="****").apply(sink(value))
    with pytest.raises(DataException, match=r"Cannot mask value of type class java\.lang\.Boolean with custom"):
        make(T + "MaskField$Value", fields="b", replacement="x").apply(sink(value))


def test_value_to_key_extract_and_hoist() -> None:
    out = make(T + "ValueToKey", fields="id").apply(sink({"id": 42, "cust_id": 1234}))
    assert out is not None and out.key == {"id": 42} and out.key_schema is None
    out = make(T + "ExtractField$Key", field="id").apply(out)
    assert out is not None and out.key == 42
    out = make(T + "ValueToKey", fields="id,name").apply(sink({"id": 7, "name": "n"}, STRUCT))
    assert out is not None and out.key == {"id": 7, "name": "n"}
    assert [f["field"] for f in out.key_schema["fields"]] == ["id", "name"]  # type: ignore[index]
    with pytest.raises(DataException, match="Field does not exist: nope"):
        make(T + "ValueToKey", fields="nope").apply(sink({"id": 7}, STRUCT))
    out = make(T + "ExtractField$Value", field="name").apply(sink({"id": 7, "name": "n"}, STRUCT))
    assert out is not None and out.value == "n" and out.value_schema == {
        "type": "string", "optional": True}
    nested = {"a": {"b": {"c": 1}}}
    out = make(T + "ExtractField$Value", field="a.b.c", field_syntax_version="V2").apply(sink(nested))
    assert out is not None and out.value == 1
    out = make(T + "HoistField$Value", field="line").apply(sink("hello", {"type": "string"}))
    assert out is not None and out.value == {"line": "hello"}
    assert out.value_schema["fields"][0] == {"type": "string", "field": "line"}  # type: ignore[index]


def test_cast() -> None:
    t = make(T + "Cast$Value", spec="id:string,price:float64,name:boolean")
    out = t.apply(sink({"id": 7, "name": "TRUE", "price": "9.5"}, STRUCT))
    assert out is not None and out.value == {"id": "7", "name": True, "price": 9.5}
    types = {f["field"]: f["type"] for f in out.value_schema["fields"]}  # type: ignore[index]
    assert types == {"id": "string", "name": "boolean", "price": "double"}
    assert make(T + "Cast$Value", spec="int8").apply(sink(300)).value == 44  # type: ignore[union-attr]
    assert make(T + "Cast$Value", spec="string").apply(sink(b"\x00\x01")).value == "AAE="  # type: ignore[union-attr]
    assert make(T + "Cast$Value", spec="float64").apply(sink(True)).value == 1.0  # type: ignore[union-attr]
    with pytest.raises(DataException, match=r"Value \(12x\) was out of range"):
        make(T + "Cast$Value", spec="int32").apply(sink("12x"))
    with pytest.raises(DataException, match=r"Value \(200\) was out of range"):
        make(T + "Cast$Value", spec="int8").apply(sink("200"))
    with pytest.raises(ConfigException, match="may only specify a single cast"):
        make(T + "Cast$Value", spec="int8,a:int16")
    with pytest.raises(ConfigException, match="does not support casting to BYTES"):
        make(T + "Cast$Value", spec="a:bytes")
    with pytest.raises(ConfigException, match="Invalid type found in casting spec: nope"):
        make(T + "Cast$Value", spec="a:nope")


def test_timestamp_converter() -> None:
    t = make(T + "TimestampConverter$Value", field="ts", target_type="string",
             format="yyyy-MM-dd'T'HH:mm:ss.SSSZ")
    out = t.apply(sink({"ts": 1700000000123}))
    assert out is not None and out.value == {"ts": "2023-11-14T22:13:20.123+0000"}
    back = make(T + "TimestampConverter$Value", field="ts", target_type="unix",
                format="yyyy-MM-dd'T'HH:mm:ss.SSSZ").apply(out)
    assert back is not None and back.value == {"ts": 1700000000123}
    secs = make(T + "TimestampConverter$Value", target_type="Timestamp", unix_precision="seconds")
    assert secs.apply(sink(1700000000)).value == 1700000000000  # type: ignore[union-attr]
    micros = make(T + "TimestampConverter$Value", target_type="unix", format="yyyy-MM-dd",
                  unix_precision="microseconds")
    assert micros.apply(sink("2023-11-14")).value == 1699920000000000  # type: ignore[union-attr]
    ts_schema = {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"}
    out = make(T + "TimestampConverter$Value", target_type="Date").apply(
        sink(1700000000123, ts_schema))
    assert out is not None and out.value == 19675
    assert out.value_schema["name"] == "org.apache.kafka.connect.data.Date"  # type: ignore[index]
    parsed = make(T + "TimestampConverter$Value", target_type="Timestamp", format="dd/MM/yyyy HH:mm")
    assert parsed.apply(sink("14/11/2023 22:13")).value == 1700000000123 - 20123  # type: ignore[union-attr]
    with pytest.raises(ConfigException, match="requires format option"):
        make(T + "TimestampConverter$Value", target_type="string")
    with pytest.raises(ConfigException, match="String must be one of"):
        make(T + "TimestampConverter$Value", target_type="nope")


def test_routers() -> None:
    t = make(T + "TimestampRouter", topic_format="foo-${topic}-${timestamp}",
             timestamp_format="YYYYMM")
    assert t.apply(sink(1)).topic == "foo-orders-202311"  # type: ignore[union-attr]
    with pytest.raises(DataException, match="Timestamp missing"):
        t.apply(SinkRecord(topic="t", kafka_partition=0, key=None, value=1))
    r = make(T + "RegexRouter", regex=r"([^.]+)\.([^.]+)\.([^.]+)", replacement="$3")
    assert r.apply(sink(1, topic="server.db.customers")).topic == "customers"  # type: ignore[union-attr]
    assert r.apply(sink(1, topic="plain")).topic == "plain"  # type: ignore[union-attr]
    r = make(T + "RegexRouter", regex="(?P<name>.*)-raw", replacement="${name}-clean\\$")
    assert r.apply(sink(1, topic="a-raw")).topic == "a-clean$"  # type: ignore[union-attr]


def test_flatten() -> None:
    value = {"content": {"id": 42, "name": {"first": "David", "middle": None, "last": "Wong"}}}
    out = make(T + "Flatten$Value", delimiter="_").apply(sink(value))
    assert out is not None and out.value == {"content_id": 42, "content_name_first": "David",
                                             "content_name_middle": None,
                                             "content_name_last": "Wong"}
    schema = {"type": "struct", "fields": [
        {"field": "a", "type": "int32"},
        {"field": "b", "type": "struct", "optional": True, "fields": [
            {"field": "c", "type": "string", "optional": False}]}]}
    out = make(T + "Flatten$Value").apply(sink({"a": 1, "b": None}, schema))
    assert out is not None and out.value == {"a": 1, "b.c": None}
    assert out.value_schema["fields"][1] == {"field": "b.c", "type": "string", "optional": True}  # type: ignore[index]


def test_headers() -> None:
    t = make(T + "HeaderFrom$Value", fields="id,ts", headers="id,timestamp", operation="move")
    out = t.apply(sink({"id": 1, "ts": 2, "x": 3}))
    assert out is not None and out.value == {"x": 3}
    assert [(h.key, h.value) for h in out.headers] == [("id", 1), ("timestamp", 2)]
    with pytest.raises(ConfigException, match="same number of elements"):
        make(T + "HeaderFrom$Value", fields="a,b", headers="a", operation="copy")
    record = sink(1, headers=Headers().add("a", b"1").add("b", b"2").add("a", b"3"))
    out = make(T + "InsertHeader", header="app.id", value_literal="best-app-ever").apply(record)
    assert out is not None and out.headers.last_with_name("app.id").value == "best-app-ever"  # type: ignore[union-attr]
    assert len(record.headers) == 3  # the original's headers are not changed
    out = make(T + "DropHeaders", headers="a").apply(record)
    assert out is not None and [h.key for h in out.headers] == ["b"]


def chain(config: dict[str, str]) -> TransformationChain:
    return TransformationChain.from_config(config)


def handler(tolerance: str = "none") -> ErrorHandler:
    return ErrorHandler({"errors.tolerance": tolerance}, threading.Event())


def test_predicates_and_negate() -> None:
    config = {"transforms": "drop,tag", "predicates": "isFoo,hasH,tomb",
              "transforms.drop.type": T + "Filter", "transforms.drop.predicate": "isFoo",
              "transforms.tag.type": T + "InsertHeader", "transforms.tag.header": "seen",
              "transforms.tag.value.literal": "yes", "transforms.tag.predicate": "tomb",
              "transforms.tag.negate": "true",
              "predicates.isFoo.type": P + "TopicNameMatches", "predicates.isFoo.pattern": "foo.*",
              "predicates.hasH.type": P + "HasHeaderKey", "predicates.hasH.name": "h",
              "predicates.tomb.type": P + "RecordIsTombstone"}
    c = chain(config)
    assert c.apply(sink(1, topic="foobar"), handler()) is None
    kept = c.apply(sink(1, topic="bar"), handler())
    assert kept is not None and kept.headers.last_with_name("seen") is not None
    tomb = c.apply(sink(None, topic="bar"), handler())
    assert tomb is not None and tomb.headers.last_with_name("seen") is None
    p = plugins.resolve_predicate(P + "HasHeaderKey")
    assert p is not None
    has = p()
    has.configure({"name": "h"})
    assert has.test(sink(1, headers=Headers().add("h", None))) and not has.test(sink(1))


def test_a_failing_transformation_obeys_errors_tolerance() -> None:
    config = {"transforms": "x", "transforms.x.type": T + "ExtractField$Value",
              "transforms.x.field": "a"}
    assert chain(config).apply(sink("not a map"), handler("all")) is None
    with pytest.raises(ToleranceExceeded, match="TRANSFORMATION"):
        chain(config).apply(sink("not a map"), handler("none"))


class _Flaky(Transformation):
    """Fails with a retriable error the first ``failures`` times it is applied."""

    class_name = "test.Flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def apply(self, record: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RetriableException("not yet")
        return record


def test_retriable_transformation_failures_are_retried_only_within_the_timeout() -> None:
    from brook.connect.runtime.transformation_chain import _Stage
    record = sink(1)
    retrying = ErrorHandler({"errors.retry.timeout": 5000}, threading.Event())
    assert TransformationChain([_Stage("f", _Flaky(2))]).apply(record, retrying) is record
    no_retry = ErrorHandler({"errors.tolerance": "all"}, threading.Event())
    assert TransformationChain([_Stage("f", _Flaky(1))]).apply(record, no_retry) is None
    assert no_retry.errors_seen == 1


def errors(props: dict[str, str]) -> dict[str, list[str]]:
    infos = validation.validate({"connector.class": "S3SinkConnector", "topics": "t",
                                 "s3.bucket.name": "bkt", **props})
    return {c["value"]["name"]: c["value"]["errors"] for c in infos["configs"]
            if c["value"]["errors"] and c["value"]["name"].startswith(("transforms", "predicates"))}


def test_validation_reports_per_alias_keys() -> None:
    assert errors({"transforms": "r", "transforms.r.type": T + "RegexRouter",
                   "transforms.r.regex": "(", "transforms.r.replacement": "x"})[
        "transforms.r.regex"][0].startswith("Invalid value ( for configuration regex")
    assert errors({"transforms": "r", "transforms.r.type": "RegexRouter"}) == {
        "transforms.r.regex": ['Missing required configuration "transforms.r.regex" which has '
                               "no default value."],
        "transforms.r.replacement": ['Missing required configuration "transforms.r.replacement" '
                                     "which has no default value."]}
    assert errors({"transforms": "c", "transforms.c.type": T + "Cast"}) == {"transforms.c.type": [
        f"This class is abstract and cannot be created. Did you mean {T}Cast$Key, {T}Cast$Value?"]}
    assert errors({"transforms": "x", "transforms.x.type": "com.example.Nope"}) == {
        "transforms.x.type": ["Invalid value com.example.Nope for configuration transforms.x.type: "
                              "Class com.example.Nope could not be found."]}
    assert "Config 'transforms.f.negate' was provided but there is no config" in errors({
        "transforms": "f", "transforms.f.type": T + "Filter", "transforms.f.negate": "true"})[
        "transforms.f.type"][0]
    assert "transforms.f.predicate" in errors({
        "transforms": "f", "transforms.f.type": T + "Filter", "transforms.f.predicate": "p"})
    assert errors({"transforms": "a,a", "transforms.a.type": T + "Filter"})["transforms"] == [
        "Invalid value [a, a] for configuration transforms: Duplicate alias provided."]
    assert errors({"transforms": "c", "transforms.c.type": T + "Cast$Value",
                   "transforms.c.spec": "a:int8,b:nope"}) == {"transforms.c.spec": [
        "Invalid value java.lang.IllegalArgumentException: No enum constant org.apache.kafka."
        "connect.data.Schema.Type.NOPE for configuration Invalid type found in casting spec: nope"]}
    infos = validation.validate({"connector.class": "S3SinkConnector", "topics": "t",
                                 "s3.bucket.name": "bkt", "transforms": "f",
                                 "transforms.f.type": T + "Filter"})
    definitions = {c["definition"]["name"] for c in infos["configs"] if c["definition"]}
    assert {"transforms.f.type", "transforms.f.predicate", "transforms.f.negate"} <= definitions


def test_every_builtin_is_listed_with_its_type() -> None:
    listed = {p["class"]: p["type"] for p in plugins.transformation_plugins()}
    assert all(listed[name] == "transformation" for name in BUILTIN_TRANSFORMATIONS)
    assert listed[P + "RecordIsTombstone"] == "predicate"
    assert len(listed) == 27
    assert issubclass(plugins.resolve_transformation("RegexRouter") or object, Transformation)
    assert issubclass(plugins.resolve_predicate("TopicNameMatches") or object, Predicate)
    assert plugins.resolve_transformation("os.system") is None
    config_def = plugins.transformation_config(T + "Cast$Value")
    assert config_def is not None and list(config_def) == ["spec", "replace.null.with.default"]
    assert plugins.transformation_config("os.system") is None


def test_header_literals_are_typed_and_written_as_kafka_writes_them() -> None:
    from brook.connect.runtime.converters import header_bytes
    values = [make(T + "InsertHeader", header="h", value_literal=text).apply(sink(1))
              .headers.last_with_name("h").value  # type: ignore[union-attr]
              for text in ("42", "true", "1.5", "best-app-ever")]
    assert values == [42, True, 1.5, "best-app-ever"]
    assert [header_bytes(v) for v in values] == [b"42", b"true", b"1.5", b"best-app-ever"]
    assert header_bytes({"a": [1, b"\x00"]}) == b'{"a":[1,"AA=="]}' and header_bytes(None) is None


def test_a_routed_sink_record_keeps_where_it_was_read() -> None:
    routed = make(T + "RegexRouter", regex="orders", replacement="archive").apply(sink(1))
    assert routed is not None and routed.topic == "archive"
    assert routed.original_topic_partition.topic == "orders"
    assert (routed.original_kafka_partition, routed.original_kafka_offset) == (3, 42)
