"""brook's transformations and predicates against Kafka's own, record for record.

Every case goes through Kafka 4.3.1's class (``tests/java/programs/ApplyTransforms.java``, one
JVM for all cases) and through brook's of the same name; keys, values and header values are
compared as JsonConverter envelopes (schema and payload), errors by exception class and
message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from brook.connect.api import ConfigException, DataException, Headers, SinkRecord
from brook.connect.runtime import plugins
from brook.connect.runtime.converters import JsonConverter
from tests.support.java import run_program

T = "org.apache.kafka.connect.transforms."
P = "org.apache.kafka.connect.transforms.predicates."


def s(type_: str, optional: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "optional": optional, **extra}


def f(field: str, type_: str, optional: bool = False, **extra: Any) -> dict[str, Any]:
    return {**s(type_, optional, **extra), "field": field}


TS = {"name": "org.apache.kafka.connect.data.Timestamp", "version": 1}
ORDER = s("struct", fields=[f("id", "int32"), f("name", "string", True), f("price", "string", True),
                            f("card", "string", True)], name="shop.Order")
ORDER_VALUE = {"id": 7, "name": "pen", "price": "9.5", "card": "4111-1111"}
NESTED = s("struct", fields=[f("id", "int64"), f("who", "struct", True, fields=[
    f("first", "string"), f("last", "string", True)])])
MAP = {"id": 42, "cust_id": 1234, "name": "n", "card": "4111", "ts": 1700000000123,
       "nested": {"a": {"b": 1}, "c": [1, 2]}}


def env(schema: Any, payload: Any) -> dict[str, Any]:
    return {"schema": schema, "payload": payload}


def case(cls: str, config: dict[str, str], value: dict[str, Any], key: dict[str, Any] | None = None,
         topic: str = "shop.orders", timestamp: int | None = 1700000000123,
         headers: list[Any] | None = None, differs: str = "") -> dict[str, Any]:
    """``differs`` names the one known difference: ``class`` (brook raises ``DataException``
    where Kafka lets an ``IllegalArgumentException`` out) or ``java-text`` (the message ends
    with a Java object's ``toString``)."""
    return {"class": cls, "config": config, "topic": topic, "partition": 2, "offset": 42,
            "timestamp": timestamp, "key": key or env(None, None), "value": value,
            "headers": headers or [], "differs": differs}


CASES = [
    # InsertField
    case(T + "InsertField$Value", {"static.field": "source", "static.value": "connect",
                                   "topic.field": "t", "partition.field": "p",
                                   "offset.field": "o", "timestamp.field": "ts"}, env(None, MAP)),
    case(T + "InsertField$Value", {"topic.field": "t!", "partition.field": "p",
                                   "timestamp.field": "ts?"}, env(ORDER, ORDER_VALUE)),
    case(T + "InsertField$Value", {"topic.field": "t"}, env(None, None)),
    case(T + "InsertField$Value", {"topic.field": "t"}, env(s("string"), "text")),
    case(T + "InsertField$Key", {"topic.field": "t"}, env(None, 1), key=env(None, {"k": 1})),
    case(T + "InsertField$Value", {}, env(None, MAP)),
    # ReplaceField
    case(T + "ReplaceField$Value", {"exclude": "card", "renames": "id:order_id,name:title"},
         env(ORDER, ORDER_VALUE)),
    case(T + "ReplaceField$Value", {"include": "id,name", "renames": "cust_id:customer"},
         env(None, MAP)),
    case(T + "ReplaceField$Value", {"renames": "id"}, env(None, MAP)),
    case(T + "ReplaceField$Value", {"exclude": "id"}, env(None, None)),
    # MaskField
    case(T + "MaskField$Value", {"fields": "card,id"}, env(ORDER, ORDER_VALUE)),
    case(T + "MaskField$Value", {"fields": "card,id,nested", "replacement": "0"}, env(None, MAP)),
    case(T + "MaskField$Value", {"fields": "card,id"}, env(None, MAP)),
    case(T + "MaskField$Value", {"fields": "name", "replacement": "****"}, env(ORDER, ORDER_VALUE)),
    case(T + "MaskField$Value", {"fields": "id", "replacement": "x"}, env(ORDER, ORDER_VALUE)),
    # ValueToKey, ExtractField, HoistField
    case(T + "ValueToKey", {"fields": "id,cust_id"}, env(None, MAP)),
    case(T + "ValueToKey", {"fields": "id,name"}, env(ORDER, ORDER_VALUE)),
    case(T + "ValueToKey", {"fields": "nope"}, env(ORDER, ORDER_VALUE)),
    case(T + "ValueToKey", {"fields": "id"}, env(s("string"), "x")),
    case(T + "ExtractField$Value", {"field": "id"}, env(None, MAP)),
    case(T + "ExtractField$Value", {"field": "name"}, env(ORDER, ORDER_VALUE)),
    case(T + "ExtractField$Value", {"field": "missing"}, env(ORDER, ORDER_VALUE), differs="class"),
    case(T + "ExtractField$Value", {"field": "nested.a.b", "field.syntax.version": "V2"},
         env(None, MAP)),
    case(T + "ExtractField$Value", {"field": "who.first", "field.syntax.version": "V2"},
         env(NESTED, {"id": 1, "who": {"first": "Ada", "last": None}})),
    case(T + "ExtractField$Key", {"field": "id"}, env(None, 1), key=env(None, None)),
    case(T + "HoistField$Value", {"field": "line"}, env(s("string"), "hello")),
    case(T + "HoistField$Key", {"field": "k"}, env(None, 1), key=env(None, 5)),
    # Cast
    case(T + "Cast$Value", {"spec": "id:string,price:float64,name:boolean"}, env(ORDER, ORDER_VALUE)),
    case(T + "Cast$Value", {"spec": "id:int8,ts:string,card:int64"}, env(None, {
        "id": 300, "ts": 1.5, "card": "123"})),
    case(T + "Cast$Value", {"spec": "int16"}, env(s("int64"), 70000)),
    case(T + "Cast$Value", {"spec": "string"}, env(s("bytes"), "AAE=")),
    case(T + "Cast$Value", {"spec": "float32"}, env(s("boolean"), True)),
    case(T + "Cast$Value", {"spec": "int32"}, env(s("string"), "12x")),
    case(T + "Cast$Value", {"spec": "int8,a:int16"}, env(None, 1)),
    case(T + "Cast$Value", {"spec": "a:bytes"}, env(None, 1)),
    # TimestampConverter, TimestampRouter, RegexRouter
    case(T + "TimestampConverter$Value", {"field": "ts", "target.type": "string",
                                          "format": "yyyy-MM-dd'T'HH:mm:ss.SSSZ"}, env(None, MAP)),
    case(T + "TimestampConverter$Value", {"target.type": "Date"}, env(s("int64", **TS),
                                                                      1700000000123)),
    case(T + "TimestampConverter$Value", {"target.type": "Time"}, env(s("int64", **TS),
                                                                      1700000000123)),
    case(T + "TimestampConverter$Value", {"target.type": "unix", "unix.precision": "seconds"},
         env(s("int64", **TS), 1700000000123)),
    case(T + "TimestampConverter$Value", {"target.type": "Timestamp", "format": "dd/MM/yyyy HH:mm"},
         env(s("string"), "14/11/2023 22:13")),
    case(T + "TimestampConverter$Value", {"field": "when", "target.type": "Timestamp",
                                          "unix.precision": "microseconds"},
         env(s("struct", fields=[f("when", "int64"), f("x", "int32", True)]),
             {"when": 1700000000123456, "x": None})),
    case(T + "TimestampConverter$Value", {"target.type": "string"}, env(None, 1)),
    case(T + "TimestampRouter", {"topic.format": "foo-${topic}-${timestamp}",
                                 "timestamp.format": "yyyyMM"}, env(None, 1)),
    case(T + "TimestampRouter", {}, env(None, 1), timestamp=None, differs="java-text"),
    case(T + "RegexRouter", {"regex": r"([^.]+)\.([^.]+)", "replacement": "$2-$1"}, env(None, 1)),
    case(T + "RegexRouter", {"regex": "nomatch", "replacement": "x"}, env(None, 1)),
    # Flatten
    case(T + "Flatten$Value", {"delimiter": "_"}, env(None, MAP)),
    case(T + "Flatten$Value", {}, env(NESTED, {"id": 1, "who": {"first": "Ada", "last": None}})),
    case(T + "Flatten$Value", {}, env(NESTED, {"id": 1, "who": None})),
    case(T + "Flatten$Value", {}, env(None, None)),
    # Headers
    case(T + "HeaderFrom$Value", {"fields": "id,name", "headers": "h_id,h_name",
                                  "operation": "move"}, env(ORDER, ORDER_VALUE)),
    case(T + "HeaderFrom$Value", {"fields": "id", "headers": "h_id", "operation": "copy"},
         env(None, MAP)),
    case(T + "HeaderFrom$Value", {"fields": "id,name", "headers": "h", "operation": "copy"},
         env(None, MAP)),
    case(T + "InsertHeader", {"header": "app.id", "value.literal": "best-app-ever"}, env(None, 1)),
    case(T + "DropHeaders", {"headers": "a,c"}, env(None, 1), headers=[
        ["a", env(s("string"), "1")], ["b", env(s("string"), "2")], ["a", env(s("string"), "3")]]),
    case(T + "Filter", {}, env(None, 1)),
    # Predicates
    case(P + "TopicNameMatches", {"pattern": r"shop\..*"}, env(None, 1)),
    case(P + "TopicNameMatches", {"pattern": "shop"}, env(None, 1)),
    case(P + "HasHeaderKey", {"name": "b"}, env(None, 1), headers=[["b", env(None, None)]]),
    case(P + "HasHeaderKey", {"name": "x"}, env(None, 1)),
    case(P + "RecordIsTombstone", {}, env(None, None)),
    case(P + "RecordIsTombstone", {}, env(None, 1)),
    # More shapes: optional structs, defaults, arrays and maps, logical types, tombstones
    case(T + "Flatten$Value", {}, env(s("struct", fields=[
        f("tags", "array", items=s("string")), f("attrs", "map", True, keys=s("string"),
                                                   values=s("int32")),
        f("inner", "struct", fields=[f("n", "int32", True, default=5)])]),
        {"tags": ["a"], "attrs": {"x": 1}, "inner": {"n": None}})),
    case(T + "Flatten$Value", {}, env(None, {"a": [{"b": 1}], "c": {"d": None}})),
    case(T + "Cast$Value", {"spec": "ts:string,n:int64"}, env(s("struct", fields=[
        f("ts", "int64", **TS), f("n", "int32", True, default=3)]), {"ts": 1700000000123, "n": None})),
    case(T + "Cast$Value", {"spec": "int32"}, env(s("int64", True), None)),
    case(T + "Cast$Value", {"spec": "int32"}, env(s("bytes"), "AAE=")),
    case(T + "Cast$Value", {"spec": ""}, env(None, 1)),
    case(T + "HeaderFrom$Value", {"fields": "id", "headers": "h", "operation": "move"},
         env(None, None)),
    case(T + "HeaderFrom$Key", {"fields": "id", "headers": "h", "operation": "copy"},
         env(None, 1), key=env(s("struct", fields=[f("id", "int32")]), {"id": 9})),
    case(T + "HeaderFrom$Value", {"fields": "id", "headers": "h", "operation": "swap"},
         env(None, 1)),
    case(T + "InsertField$Value", {"topic.field": "t"}, env(s("struct", True, fields=[
        f("a", "int32")]), {"a": 1})),
    case(T + "InsertField$Key", {"partition.field": "p"}, env(None, 1),
         key=env(s("struct", fields=[f("id", "int32")]), {"id": 1})),
    case(T + "InsertField$Value", {"static.field": "s"}, env(None, {}), differs="java-text"),
    case(T + "ReplaceField$Key", {"include": "id", "exclude": "id"}, env(None, 1),
         key=env(s("struct", fields=[f("id", "int32"), f("x", "string")]), {"id": 1, "x": "y"})),
    case(T + "MaskField$Value", {"fields": "a,b,c,d", "replacement": "12"}, env(s("struct", fields=[
        f("a", "int8"), f("b", "float"), f("c", "double"), f("d", "string", True)]),
        {"a": 1, "b": 1.5, "c": 2.5, "d": None})),
    case(T + "MaskField$Value", {"fields": "a", "replacement": "300"}, env(s("struct", fields=[
        f("a", "int8")]), {"a": 1})),
    case(T + "MaskField$Value", {"fields": "a", "replacement": ""}, env(None, {"a": 1})),
    case(T + "ValueToKey", {"fields": "id"}, env(None, None)),
    case(T + "ValueToKey", {"fields": "id"}, env({**ORDER, "optional": True}, None)),
    case(T + "ValueToKey", {"fields": ""}, env(None, {"id": 1})),
    case(T + "ExtractField$Value", {"field": "name"}, env({**ORDER, "optional": True}, None)),
    case(T + "HoistField$Value", {"field": "v"}, env(s("string", True), None)),
    case(T + "TimestampConverter$Value", {"target.type": "Date", "format": "yyyy-MM-dd"},
         env(s("string"), "2023-11-14")),
    case(T + "TimestampConverter$Value", {"target.type": "Time", "format": "HH:mm:ss"},
         env(s("string"), "22:13:20")),
    case(T + "TimestampConverter$Value", {"target.type": "unix", "unix.precision": "nanoseconds"},
         env(s("int32", name="org.apache.kafka.connect.data.Date", version=1), 19675)),
    case(T + "TimestampConverter$Value", {"field": "nope", "target.type": "unix"},
         env(None, {"a": 1})),
    case(T + "TimestampConverter$Value", {"field": "ts", "target.type": "string",
                                          "format": "EEE, d MMM yyyy hh:mm a"},
         env(s("struct", fields=[f("ts", "int64", True, **TS)]), {"ts": 1700000000123})),
    case(T + "TimestampConverter$Value", {"target.type": "Timestamp", "format": "qq"},
         env(None, 1)),
    case(T + "TimestampConverter$Value", {"target.type": "timestamp"}, env(None, 1)),
    case(T + "RegexRouter", {"regex": "(?<db>[^.]+)\\.(.*)", "replacement": "${db}_$2_$0"},
         env(None, 1)),
    case(T + "RegexRouter", {"regex": "(.*)", "replacement": "$2"}, env(None, 1)),
    case(T + "InsertHeader", {"header": "n", "value.literal": "42"}, env(None, 1)),
    case(T + "InsertHeader", {"header": "b", "value.literal": "true"}, env(None, 1)),
    case(T + "DropHeaders", {"headers": ""}, env(None, 1)),
    case(P + "TopicNameMatches", {"pattern": "("}, env(None, 1), differs="java-text"),
    case(P + "HasHeaderKey", {}, env(None, 1)),
    # An optional struct in, for each transformation that builds a new struct schema
    case(T + "ReplaceField$Value", {"exclude": "card"}, env({**ORDER, "optional": True}, ORDER_VALUE)),
    case(T + "Flatten$Value", {}, env({**NESTED, "optional": True},
                                      {"id": 1, "who": {"first": "Ada", "last": None}})),
    case(T + "Cast$Value", {"spec": "id:int64"}, env({**ORDER, "optional": True}, ORDER_VALUE)),
    case(T + "HeaderFrom$Value", {"fields": "id", "headers": "h", "operation": "move"},
         env({**ORDER, "optional": True}, ORDER_VALUE)),
    case(T + "TimestampConverter$Value", {"field": "id", "target.type": "Timestamp"},
         env(s("struct", True, fields=[f("id", "int64")]), {"id": 5})),
    case(T + "HoistField$Value", {"field": "v"}, env(s("int32", True), 5)),
    case(T + "ValueToKey", {"fields": "id"}, env({**ORDER, "optional": True}, ORDER_VALUE)),
    # Empty and duplicated lists
    case(T + "MaskField$Value", {"fields": ""}, env(None, {})),
    case(T + "MaskField$Value", {"fields": "a,a"}, env(None, {"a": 1})),
    case(T + "ValueToKey", {"fields": "a,a"}, env(None, {"a": 1})),
    case(T + "HeaderFrom$Value", {"fields": "", "headers": "", "operation": "copy"}, env(None, {})),
    case(T + "DropHeaders", {"headers": "a,a"}, env(None, 1)),
    case(T + "ReplaceField$Value", {"exclude": "a,a"}, env(None, {"a": 1})),
    case(T + "Cast$Value", {"spec": "a:int8,a:int16"}, env(None, {"a": 1})),
    case(T + "Flatten$Value", {"delimiter": ""}, env(None, {"a": {"b": 1}})),
    case(T + "RegexRouter", {"regex": "(.*)", "replacement": "\\$1-$1"}, env(None, 1)),
    case(T + "InsertField$Value", {"topic.field": ""}, env(None, {})),
]
JAVA_EXCEPTIONS = {DataException: "org.apache.kafka.connect.errors.DataException",
                   ConfigException: "org.apache.kafka.common.config.ConfigException",
                   IndexError: "java.lang.IndexOutOfBoundsException"}


def _out(schema: Any, value: Any) -> Any:
    conv = JsonConverter()
    body = conv.from_connect_data("t", schema, value)
    doc = json.loads(body) if body is not None else None
    return None if doc == {"schema": None, "payload": None} else doc


def brook_apply(c: dict[str, Any]) -> dict[str, Any]:
    conv = JsonConverter()
    key_schema, key = conv.to_connect_data(c["topic"], json.dumps(c["key"]).encode())
    value_schema, value = conv.to_connect_data(c["topic"], json.dumps(c["value"]).encode())
    headers = Headers()
    for name, envelope in c["headers"]:
        headers.add(name, envelope["payload"])
    record = SinkRecord(topic=c["topic"], kafka_partition=c["partition"], key=key, value=value,
                        timestamp=c["timestamp"], headers=headers, key_schema=key_schema,
                        value_schema=value_schema, kafka_offset=c["offset"])
    try:
        predicate = plugins.resolve_predicate(c["class"])
        if predicate is not None:
            p = predicate()
            p.configure(c["config"])
            return {"test": p.test(record)}
        transformation = plugins.resolve_transformation(c["class"])
        assert transformation is not None, c["class"]
        t = transformation()
        t.configure(c["config"])
        out = t.apply(record)
    except (DataException, ConfigException, IndexError) as exc:
        return {"error": JAVA_EXCEPTIONS[type(exc)], "message": str(exc)}
    if out is None:
        return {"dropped": True}
    return {"topic": out.topic, "key": _out(out.key_schema, out.key),
            "value": _out(out.value_schema, out.value),
            "headers": [[h.key, h.value] for h in out.headers]}


def java_shape(doc: dict[str, Any]) -> dict[str, Any]:
    """Header values compared by payload (brook's headers carry no schema)."""
    if "headers" in doc:
        doc = {**doc, "headers": [[k, None if v is None else v["payload"]]
                                  for k, v in doc["headers"]]}
    return doc


@pytest.fixture(name="kafka_results", scope="module")
def fixture_kafka_results() -> list[dict[str, Any]]:
    done = run_program("ApplyTransforms", input="\n".join(json.dumps(c) for c in CASES) + "\n",
                       timeout=180)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) == len(CASES), done.stdout[-2000:]
    return results


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{i}-{c['class'].rsplit('.', 1)[-1]}" for i, c in enumerate(CASES)])
def test_same_outcome_as_kafka(index: int, kafka_results: list[dict[str, Any]]) -> None:
    expected = java_shape(kafka_results[index])
    actual = brook_apply(CASES[index])
    differs = CASES[index]["differs"]
    if differs == "class":
        assert expected["error"] == "java.lang.IllegalArgumentException"
        expected["error"] = "org.apache.kafka.connect.errors.DataException"
    if differs == "java-text":
        assert actual["message"].split(":")[0] == expected["message"].split(":")[0]
        actual["message"] = expected["message"]
    assert actual == expected, json.dumps(CASES[index])
