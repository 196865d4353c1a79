"""``brook produce``: kafka-console-producer.sh on librdkafka.

Each stdin line becomes one record. Key and header parsing follow the script's line reader
properties (``parse.key``, ``key.separator``, ``parse.headers``, ``null.marker``, ...) so
that input prepared for the Kafka tools produces the same records here.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from confluent_kafka import KafkaException, Producer

from brook.cli import common
from brook.cli.common import CliError
from brook.cli.properties import PropertiesError, load_properties

Header = tuple[str, bytes | None]


class LineError(ValueError):
    """An input line the reader cannot split as configured (the script stops on these too)."""


def _flag(props: dict[str, str], key: str) -> bool:
    return props.get(key, "false").strip().lower() == "true"


@dataclass
class LineReader:
    """Splits a line into headers, key and value, as the console producer's line reader does.

    Layout with everything enabled: ``h1:v1,h2:v2<TAB>key<TAB>value``. The null marker turns
    a key, value or header value into null rather than a literal string.
    """

    parse_key: bool = False
    key_separator: str = "\t"
    parse_headers: bool = False
    headers_delimiter: str = "\t"
    headers_separator: str = ","
    headers_key_separator: str = ":"
    ignore_error: bool = False
    null_marker: str | None = None

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> LineReader:
        reader = cls(
            parse_key=_flag(props, "parse.key"),
            key_separator=props.get("key.separator", "\t"),
            parse_headers=_flag(props, "parse.headers"),
            headers_delimiter=props.get("headers.delimiter", "\t"),
            headers_separator=props.get("headers.separator", ","),
            headers_key_separator=props.get("headers.key.separator", ":"),
            ignore_error=_flag(props, "ignore.error"),
            null_marker=props.get("null.marker"),
        )
        for name, value in (
            ("key.separator", reader.key_separator),
            ("headers.delimiter", reader.headers_delimiter),
            ("headers.separator", reader.headers_separator),
            ("headers.key.separator", reader.headers_key_separator),
        ):
            if not value:
                raise CliError(f"--property {name} must not be empty", code=2)
            if reader.null_marker is not None and value == reader.null_marker:
                raise CliError(f"null.marker must differ from {name}", code=2)
        if reader.parse_headers and reader.headers_delimiter == reader.headers_separator:
            raise CliError("headers.delimiter and headers.separator must differ", code=2)
        return reader

    def _cut(self, line: str, start: int, sep: str, what: str, lineno: int) -> str | None:
        index = line.find(sep, start)
        if index < 0:
            if self.ignore_error:
                return None
            raise LineError(f"No {what} found on line number {lineno}: '{line}'")
        return line[start:index]

    def _encode(self, text: str | None) -> bytes | None:
        if text is None or (self.null_marker is not None and text == self.null_marker):
            return None
        return text.encode("utf-8", "surrogateescape")

    def _headers(self, text: str, lineno: int) -> list[Header]:
        headers: list[Header] = []
        for pair in text.split(self.headers_separator):
            key, sep, value = pair.partition(self.headers_key_separator)
            if not sep:
                if self.ignore_error:
                    headers.append((pair, None))
                    continue
                raise LineError(
                    f"No header key separator found in pair '{pair}' on line number {lineno}"
                )
            if self.null_marker is not None and key == self.null_marker:
                raise LineError(
                    f"Header keys should not be equal to the null marker '{self.null_marker}' "
                    "as they can't be null"
                )
            headers.append((key, self._encode(value)))
        return headers

    def parse(self, line: str, lineno: int) -> tuple[bytes | None, bytes | None, list[Header]]:
        offset = 0
        headers: list[Header] = []
        if self.parse_headers:
            text = self._cut(line, 0, self.headers_delimiter, "headers delimiter", lineno)
            if text is not None:
                offset = len(text) + len(self.headers_delimiter)
                if text != self.null_marker:
                    headers = self._headers(text, lineno)
        key: str | None = None
        if self.parse_key:
            key = self._cut(line, offset, self.key_separator, "key separator", lineno)
            if key is not None:
                offset += len(key) + len(self.key_separator)
        return self._encode(key), self._encode(line[offset:]), headers


def build_parser() -> argparse.ArgumentParser:
    p = common.new_parser("produce", "Read lines from stdin and send each to a topic.")
    p.add_argument("--bootstrap-server", help="host:port[,host:port...] of the cluster")
    p.add_argument("--broker-list", help="older spelling of --bootstrap-server")
    p.add_argument("--topic", required=True)
    p.add_argument("--producer.config", dest="producer_config", metavar="FILE")
    p.add_argument("--producer-property", action="append", metavar="K=V")
    p.add_argument("--property", action="append", metavar="K=V", help="line reader property")
    p.add_argument("--reader-config", metavar="FILE", help="line reader properties file")
    p.add_argument("--request-required-acks", help="acks: 0, 1, -1 or all")
    p.add_argument(
        "--compression-codec",
        nargs="?",
        const="gzip",
        choices=("none", "gzip", "snappy", "lz4", "zstd"),
    )
    p.add_argument("--sync", action="store_true", help="wait for each record to be acknowledged")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--timeout", type=int, metavar="MS", help="linger time before sending a batch")
    p.add_argument("--message-send-max-retries", type=int)
    p.add_argument("--retry-backoff-ms", type=int)
    p.add_argument("--request-timeout-ms", type=int)
    p.add_argument("--max-memory-bytes", type=int)
    p.add_argument("--max-partition-memory-bytes", type=int)
    p.add_argument("--metadata-expiry-ms", type=int)
    p.add_argument("--socket-buffer-size", type=int)
    p.add_argument("--max-block-ms", type=int, default=60000, help="bound on finding the topic")
    p.add_argument("--line-reader", help="only the default line reader is available")
    return p


_FLAG_KEYS = {
    "request_required_acks": "acks",
    "compression_codec": "compression.type",
    "batch_size": "batch.size",
    "timeout": "linger.ms",
    "message_send_max_retries": "retries",
    "retry_backoff_ms": "retry.backoff.ms",
    "request_timeout_ms": "request.timeout.ms",
    "max_memory_bytes": "buffer.memory",
    "max_partition_memory_bytes": "batch.size",
    "metadata_expiry_ms": "metadata.max.age.ms",
    "socket_buffer_size": "send.buffer.bytes",
}


def producer_properties(args: argparse.Namespace) -> dict[str, str]:
    """--producer-property values, then the dedicated flags (which win, as in the script)."""
    props = common.parse_kv(args.producer_property, "--producer-property")
    for attr, key in _FLAG_KEYS.items():
        value = getattr(args, attr)
        if value is not None:
            props[key] = str(value)
    return props


def reader_properties(args: argparse.Namespace) -> dict[str, str]:
    props: dict[str, str] = {}
    if args.reader_config:
        try:
            props.update(load_properties(args.reader_config))
        except PropertiesError as exc:
            raise CliError(str(exc)) from None
    props.update(common.parse_kv(args.property, "--property"))
    return props


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Delivery:
    """Counts delivery reports and prints each failure as it is reported."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.failed = 0
        self.delivered = 0

    def __call__(self, err: Any, msg: Any) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        sys.stderr.write(
            f"{common.PROG} produce: error: failed to deliver a message to topic "
            f"{self.topic}: {err.str()}\n"
        )


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.set_verbose(args.verbose)
    if args.line_reader and not args.line_reader.endswith("LineMessageReader"):
        raise CliError(f"--line-reader {args.line_reader} is not available", code=2)
    reader = LineReader.from_properties(reader_properties(args))
    cfg = common.client_config(
        args.producer_config,
        producer_properties(args),
        bootstrap=args.bootstrap_server or args.broker_list,
        flag="--producer.config",
    )
    if "message.timeout.ms" not in cfg.conf and "delivery.timeout.ms" not in cfg.conf:
        cfg.conf["message.timeout.ms"] = "120000"  # the Java producer's delivery.timeout.ms
    # The Java producer's key hashing, so a keyed line lands where the Kafka script puts it.
    cfg.conf.setdefault("partitioner", "murmur2_random")
    watch = common.ConnectionWatch(cfg.conf["bootstrap.servers"])
    producer = common.make_client(Producer, cfg, watch)
    deadline = time.monotonic() + max(args.max_block_ms, 100) / 1000.0
    common.wait_topic(producer, watch, deadline, args.topic)

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return _run(producer, reader, args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(producer: Any, reader: LineReader, args: argparse.Namespace) -> int:
    delivery = _Delivery(args.topic)
    prompt = sys.stdin.isatty() and sys.stdout.isatty()
    error: str | None = None
    try:
        lineno = 0
        while True:
            if prompt:
                sys.stdout.write(">")
                sys.stdout.flush()
            raw = sys.stdin.buffer.readline()
            if not raw:
                break
            lineno += 1
            line = raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "surrogateescape")
            try:
                key, value, headers = reader.parse(line, lineno)
            except LineError as exc:
                error = str(exc)
                break
            error = _send(producer, args.topic, key, value, headers, delivery)
            if error:
                break
            if args.sync:
                _flush(producer)
    except KeyboardInterrupt:
        pass
    try:
        undelivered = _flush(producer)
    except KeyboardInterrupt:
        undelivered = len(producer)
    if undelivered:
        sys.stderr.write(
            f"{common.PROG} produce: error: {undelivered} message(s) were not delivered\n"
        )
    if error:
        sys.stderr.write(f"{common.PROG} produce: error: {error}\n")
    return 1 if error or delivery.failed or undelivered else 0


def _send(
    producer: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[Header],
    delivery: _Delivery,
) -> str | None:
    """Queue one record, waiting for room when librdkafka's queue is full."""
    while True:
        try:
            producer.produce(
                topic, value=value, key=key, headers=headers or None, on_delivery=delivery
            )
            producer.poll(0)
            return None
        except BufferError:
            producer.poll(0.1)
        except KafkaException as exc:
            return f"cannot send a message to topic {topic}: {common.kafka_message(exc)}"


def _flush(producer: Any) -> int:
    """Wait until librdkafka has a delivery report for everything queued (success or not)."""
    remaining: int = producer.flush(0.5)
    while remaining:
        remaining = producer.flush(0.5)
    return remaining
