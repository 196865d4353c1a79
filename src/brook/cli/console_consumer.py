"""``brook consume``: kafka-console-consumer.sh on librdkafka.

Group, offset and output behaviour follow the script: without ``--group`` a throwaway
``console-consumer-<n>`` group that never commits, ``--from-beginning`` only decides where a
group without committed offsets starts, ``--partition`` assigns instead of subscribing, and
the formatter's ``print.*`` properties lay out each record the same way.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, BinaryIO

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    TopicPartition,
)

from brook.cli import common
from brook.cli.common import CliError


def _flag(props: dict[str, str], key: str, default: bool) -> bool:
    raw = props.get(key)
    return default if raw is None else raw.strip().lower() == "true"


def _unescape(text: str) -> str:
    """Let ``key.separator=\\t`` on a shell command line mean a tab, as users expect."""
    return text.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r")


@dataclass
class Formatter:
    """Lays out a record like the script's default message formatter.

    Column order: timestamp, partition, offset, headers, key, value; columns are joined by
    ``key.separator`` and the record ends with ``line.separator``.
    """

    print_timestamp: bool = False
    print_partition: bool = False
    print_offset: bool = False
    print_headers: bool = False
    print_key: bool = False
    print_value: bool = True
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    headers_separator: bytes = b","
    headers_key_separator: bytes = b":"
    null_literal: bytes = b"null"

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> Formatter:
        def sep(key: str, default: str) -> bytes:
            return _unescape(props.get(key, default)).encode()

        return cls(
            print_timestamp=_flag(props, "print.timestamp", False),
            print_partition=_flag(props, "print.partition", False),
            print_offset=_flag(props, "print.offset", False),
            print_headers=_flag(props, "print.headers", False),
            print_key=_flag(props, "print.key", False),
            print_value=_flag(props, "print.value", True),
            key_separator=sep("key.separator", "\t"),
            line_separator=sep("line.separator", "\n"),
            headers_separator=sep("headers.separator", ","),
            headers_key_separator=sep("headers.key.separator", ":"),
            null_literal=sep("null.literal", "null"),
        )

    def _nullable(self, data: bytes | None) -> bytes:
        return self.null_literal if data is None else data

    def format(self, msg: Any) -> bytes:
        columns: list[bytes] = []
        if self.print_timestamp:
            ts_type, ts = msg.timestamp()
            if ts_type == TIMESTAMP_CREATE_TIME:
                columns.append(b"CreateTime:%d" % ts)
            elif ts_type == TIMESTAMP_LOG_APPEND_TIME:
                columns.append(b"LogAppendTime:%d" % ts)
            else:
                columns.append(b"NO_TIMESTAMP")
        if self.print_partition:
            columns.append(b"Partition:%d" % msg.partition())
        if self.print_offset:
            columns.append(b"Offset:%d" % msg.offset())
        if self.print_headers:
            headers = msg.headers() or []
            columns.append(
                self.headers_separator.join(
                    k.encode() + self.headers_key_separator + self._nullable(v) for k, v in headers
                )
                if headers
                else b"NO_HEADERS"
            )
        if self.print_key:
            columns.append(self._nullable(msg.key()))
        if self.print_value:
            columns.append(self._nullable(msg.value()))
        return self.key_separator.join(columns) + self.line_separator


def build_parser() -> argparse.ArgumentParser:
    p = common.new_parser("consume", "Print the messages of a topic on stdout.")
    p.add_argument("--bootstrap-server", help="host:port[,host:port...] of the cluster")
    p.add_argument("--topic")
    p.add_argument("--include", help="regular expression of topics to consume")
    p.add_argument("--whitelist", dest="include", help="older spelling of --include")
    p.add_argument("--group")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--partition", type=int)
    p.add_argument("--offset", help="earliest, latest or a non-negative offset (with --partition)")
    p.add_argument("--max-messages", type=int)
    p.add_argument("--timeout-ms", type=int, help="exit when no message arrives for this long")
    p.add_argument("--consumer.config", dest="consumer_config", metavar="FILE")
    p.add_argument("--consumer-property", action="append", metavar="K=V")
    p.add_argument("--property", action="append", metavar="K=V", help="formatter property")
    p.add_argument("--formatter", help="only the default formatter is available")
    p.add_argument("--isolation-level", choices=("read_committed", "read_uncommitted"))
    p.add_argument("--skip-message-on-error", action="store_true")
    p.add_argument("--key-deserializer")
    p.add_argument("--value-deserializer")
    return p


@dataclass
class Plan:
    """What to read: a subscription (topic or pattern) or an explicit partition assignment."""

    subscription: list[str]
    assignment: TopicPartition | None


def plan(args: argparse.Namespace) -> Plan:
    """Validate the topic/partition/offset flags the way the script does."""
    if bool(args.topic) == bool(args.include):
        raise CliError("exactly one of --topic or --include is required", code=2)
    if args.offset is not None and args.partition is None:
        raise CliError("the partition is required when offset is specified", code=2)
    if args.partition is not None and not args.topic:
        raise CliError("--partition needs --topic", code=2)
    if args.offset is not None and args.from_beginning:
        raise CliError("--from-beginning and --offset cannot be used together", code=2)
    if args.partition is None:
        topic = args.topic or ("^" + args.include.lstrip("^"))
        return Plan([topic], None)
    if args.partition < 0:
        raise CliError("--partition must be non-negative", code=2)
    offset_text = (args.offset or ("earliest" if args.from_beginning else "latest")).lower()
    if offset_text == "earliest":
        offset = OFFSET_BEGINNING
    elif offset_text == "latest":
        offset = OFFSET_END
    else:
        try:
            offset = int(offset_text)
        except ValueError:
            offset = -1
        if offset < 0:
            raise CliError(
                f"--offset must be 'earliest', 'latest' or a non-negative number, got {args.offset!r}",
                code=2,
            )
    return Plan([args.topic], TopicPartition(args.topic, args.partition, offset))


def consumer_properties(args: argparse.Namespace) -> dict[str, str]:
    props = common.parse_kv(args.consumer_property, "--consumer-property")
    if args.isolation_level:
        props["isolation.level"] = args.isolation_level
    return props


def finish_config(cfg: Any, args: argparse.Namespace) -> None:
    """Group id, commit and reset policy, resolved with the script's precedence rules."""
    conf: dict[str, str] = cfg.conf
    if args.group:
        existing = conf.get("group.id")
        if existing and existing != args.group:
            raise CliError(
                f"group id given twice: --group {args.group} and group.id={existing}", code=2
            )
        conf["group.id"] = args.group
    if not conf.get("group.id"):
        # A throwaway group whose offsets would only clutter the coordinator: never commit.
        conf["group.id"] = f"console-consumer-{random.randrange(100000)}"
        conf["enable.auto.commit"] = "false"
    reset = conf.get("auto.offset.reset")
    if args.from_beginning:
        if reset and reset != "earliest":
            raise CliError(f"--from-beginning conflicts with auto.offset.reset={reset}", code=2)
        conf["auto.offset.reset"] = "earliest"
    elif not reset:
        conf["auto.offset.reset"] = "latest"
    conf.setdefault("enable.partition.eof", "false")


class _Stop:
    """Set by SIGINT/SIGTERM; the poll loop notices within one poll interval."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.set_verbose(args.verbose)
    if args.formatter and not args.formatter.endswith("DefaultMessageFormatter"):
        raise CliError(f"--formatter {args.formatter} is not available", code=2)
    for flag in (args.key_deserializer, args.value_deserializer):
        if flag:
            common.debug(f"{flag} ignored: keys and values are printed as raw bytes")
    what = plan(args)
    formatter = Formatter.from_properties(common.parse_kv(args.property, "--property"))
    cfg = common.client_config(
        args.consumer_config,
        consumer_properties(args),
        bootstrap=args.bootstrap_server,
        flag="--consumer.config",
    )
    finish_config(cfg, args)
    watch = common.ConnectionWatch(cfg.conf["bootstrap.servers"])
    consumer = common.make_client(Consumer, cfg, watch)
    try:
        deadline = time.monotonic() + common.api_timeout(cfg)
        if not args.topic:
            common.metadata(consumer, watch, deadline)  # fail early on an unreachable cluster
        else:
            tm = common.wait_topic(consumer, watch, deadline, args.topic)
            if what.assignment is not None and what.assignment.partition not in tm.partitions:
                raise CliError(
                    f"partition {what.assignment.partition} does not exist in topic "
                    f"{args.topic} (it has {len(tm.partitions)})"
                )
        if what.assignment is not None:
            consumer.assign([what.assignment])
        else:
            consumer.subscribe(what.subscription)
        stop = _Stop()
        handlers = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        counter = [0]
        try:
            _loop(consumer, formatter, args, stop, sys.stdout.buffer, counter)
        finally:
            for sig, previous in handlers.items():
                signal.signal(sig, previous)
            try:
                sys.stdout.flush()  # the records first, then the script's closing line
            except (BrokenPipeError, ValueError):
                pass
            sys.stderr.write(f"Processed a total of {counter[0]} messages\n")
    finally:
        _close(consumer)
    return 0


def _close(consumer: Any) -> None:
    try:
        consumer.close()
    except Exception as exc:  # leaving the group is best effort on the way out
        common.debug(f"closing the consumer: {common.kafka_message(exc)}")


def _loop(
    consumer: Any,
    formatter: Formatter,
    args: argparse.Namespace,
    stop: _Stop,
    out: BinaryIO,
    counter: list[int],
) -> None:
    """Poll and print until max messages, idle timeout or a stop signal, counting in place.

    The count lives in ``counter`` so that it is still right when printing fails midway
    (a closed pipe) and the summary line is written on the way out.
    """
    limit = args.max_messages if args.max_messages is not None and args.max_messages >= 0 else None
    idle_limit = args.timeout_ms / 1000.0 if args.timeout_ms is not None else None
    last = time.monotonic()
    while not stop.requested and (limit is None or counter[0] < limit):
        wait = 0.5
        if idle_limit is not None:
            left = idle_limit - (time.monotonic() - last)
            if left <= 0:
                break
            wait = min(wait, left)
        batch = min(500, limit - counter[0]) if limit is not None else 500
        messages = consumer.consume(num_messages=batch, timeout=wait)
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if args.skip_message_on_error and not err.fatal():
                    common.warn(f"skipping a message: {err.str()}")
                    continue
                raise CliError(f"consuming: {err.str()}")
            out.write(formatter.format(msg))
            counter[0] += 1
            last = time.monotonic()
        if messages:
            out.flush()
