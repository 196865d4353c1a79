"""Plumbing shared by the CLI subcommands: errors, argument parsing, client construction.

The subcommands are thin; what they share is the policy that makes them pleasant in a
terminal and in scripts: user mistakes become one line on stderr and a non-zero exit (never a
traceback), librdkafka's own chatter stays hidden unless ``--verbose``, and an unreachable
cluster is reported within seconds instead of after librdkafka's minutes of retries.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from confluent_kafka import KafkaError, KafkaException

from brook.cli.client_config import ClientConfig, IamSettings, merge, to_librdkafka
from brook.cli.properties import PropertiesError, load_properties

PROG = "brook"
DEFAULT_TIMEOUT_S = 30.0
# How long every broker may stay unreachable before a command gives up. librdkafka retries
# forever; a person at a terminal wants to hear about a typo in the address quickly.
UNREACHABLE_GRACE_S = 4.0

_state = {"verbose": False}
_rdkafka_logger = logging.getLogger("brook.cli.librdkafka")


class CliError(Exception):
    """A user-facing failure: printed as one line, exits with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class CliParser(argparse.ArgumentParser):
    """argparse with one-line usage errors, so mistakes read like every other CLI error."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def new_parser(command: str, description: str) -> CliParser:
    parser = CliParser(prog=f"{PROG} {command}", description=description)
    parser.add_argument(
        "--verbose", action="store_true", help="show client notes and librdkafka logs on stderr"
    )
    return parser


def set_verbose(flag: bool) -> None:
    _state["verbose"] = flag
    if not _rdkafka_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("librdkafka: %(message)s"))
        _rdkafka_logger.addHandler(handler)
        _rdkafka_logger.propagate = False
    _rdkafka_logger.setLevel(logging.DEBUG if flag else logging.CRITICAL + 1)


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def debug(message: str) -> None:
    if _state["verbose"]:
        sys.stderr.write(f"{PROG}: note: {message}\n")


def chosen_action(args: argparse.Namespace, actions: Iterable[str]) -> str:
    """The one action given as ``--ACTION`` flags (stored as ``do_<action>``) or as the
    positional ``action`` word, as the Kafka scripts take their ``--create``/``--list``/..."""
    options = list(actions)
    chosen = [a for a in options if getattr(args, f"do_{a.replace('-', '_')}")]
    if args.action and args.action not in chosen:
        chosen.append(args.action)
    if len(chosen) != 1:
        flags = [f"--{a}" for a in options]
        raise CliError(
            f"exactly one of {', '.join(flags[:-1])} or {flags[-1]} is required", code=2
        )
    return chosen[0]


def parse_kv(items: Iterable[str] | None, flag: str) -> dict[str, str]:
    """Parse repeated ``key=value`` flags; a missing ``=`` is a usage error."""
    result: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"{flag} expects key=value, got {item!r}", code=2)
        result[key.strip()] = value
    return result


def client_config(
    config_file: str | None,
    overrides: dict[str, str] | None = None,
    bootstrap: str | None = None,
    flag: str = "--command-config",
) -> ClientConfig:
    """Build the client configuration: file, then ``--*-property`` overrides, then bootstrap.

    The order matches the Kafka scripts: explicit command-line values win over the file.
    """
    try:
        cfg = ClientConfig()
        if config_file:
            cfg = to_librdkafka(load_properties(config_file), source=config_file)
        if overrides:
            cfg = merge(cfg, to_librdkafka(overrides, source=flag.replace("-config", "-property")))
    except PropertiesError as exc:
        raise CliError(str(exc)) from None
    if bootstrap:
        cfg.conf["bootstrap.servers"] = bootstrap
    if not cfg.conf.get("bootstrap.servers"):
        raise CliError("missing required option --bootstrap-server", code=2)
    for message in cfg.warnings:
        warn(message)
    for message in cfg.notes:
        debug(message)
    return cfg


def api_timeout(cfg: ClientConfig) -> float:
    """Seconds an operation may take: ``default.api.timeout.ms`` when given, as in Java."""
    raw = cfg.cli.get("default.api.timeout.ms")
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        return max(0.1, int(raw) / 1000.0)
    except ValueError:
        raise CliError(f"default.api.timeout.ms must be a number, got {raw!r}") from None


class ConnectionWatch:
    """Collects librdkafka's error callbacks and decides when to stop waiting on the cluster."""

    def __init__(self, bootstrap: str, grace: float = UNREACHABLE_GRACE_S) -> None:
        self.bootstrap = bootstrap
        self.grace = grace
        self.down_since: float | None = None
        self.last_error = ""
        self.fatal: str | None = None

    def __call__(self, err: KafkaError) -> None:
        code = err.code()
        if err.fatal() or code in (
            KafkaError._AUTHENTICATION,
            KafkaError.SASL_AUTHENTICATION_FAILED,
        ):
            self.fatal = err.str()
        elif code == KafkaError._ALL_BROKERS_DOWN:
            if self.down_since is None:
                self.down_since = time.monotonic()
        elif code in (KafkaError._TRANSPORT, KafkaError._RESOLVE, KafkaError._SSL):
            self.last_error = err.str()
        debug(f"client error: {err.str()}")

    def check(self) -> None:
        """Raise CliError when the cluster is unusable (auth failure, or all brokers down)."""
        if self.fatal:
            raise CliError(f"cannot use the cluster at {self.bootstrap}: {self.fatal}")
        if self.down_since is not None and time.monotonic() - self.down_since >= self.grace:
            reason = _strip_broker_prefix(self.last_error) or "all brokers are down"
            raise CliError(f"cannot reach a broker at {self.bootstrap}: {reason}")

    def reset(self) -> None:
        """Forget a past outage (after something succeeded, the cluster is reachable)."""
        self.down_since = None


def _strip_broker_prefix(message: str) -> str:
    # "host:port/bootstrap: Connect to ipv4#... failed: ..." -> "Connect to ... failed: ..."
    return re.sub(r"^\S+/(?:bootstrap|\d+): ", "", message)


def kafka_message(exc: BaseException) -> str:
    """The readable part of a KafkaException (or any exception)."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return str(exc)


def kafka_code(exc: BaseException) -> int | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return int(exc.args[0].code())
    return None


def make_client(
    factory: Callable[[dict[str, Any]], Any], cfg: ClientConfig, watch: ConnectionWatch
) -> Any:
    """Create a librdkafka client, dropping (with a warning) keys librdkafka does not know.

    The CLI cannot list every Java-only key a user's file might carry, but librdkafka tells
    us exactly which key it rejects, so unknown keys are removed one by one and retried.
    """
    conf: dict[str, Any] = dict(cfg.conf)
    conf["error_cb"] = watch
    conf["logger"] = _rdkafka_logger
    if cfg.iam is not None:
        conf["oauth_cb"] = iam_token_source(cfg.iam, str(cfg.conf.get("bootstrap.servers", "")))
    for _ in range(len(conf) + 1):
        try:
            return factory(conf)
        except KafkaException as exc:
            message = kafka_message(exc)
            unknown = re.match(r'No such configuration property: "(.+)"', message)
            if unknown and unknown.group(1) in conf:
                warn(f"'{unknown.group(1)}' is not a librdkafka client property; ignored")
                del conf[unknown.group(1)]
                continue
            raise CliError(f"invalid client configuration: {message}") from None
        except ValueError as exc:
            raise CliError(f"invalid client configuration: {exc}") from None
    raise CliError("invalid client configuration")


_MSK_REGION = re.compile(r"\.kafka(?:-serverless)?\.([a-z0-9-]+)\.amazonaws\.com")


def iam_token_source(iam: IamSettings, bootstrap: str) -> Callable[[str], tuple[str, float]]:
    """An OAUTHBEARER token callback that signs MSK IAM tokens.

    The Java clients authenticate to IAM listeners through a jar (IAMLoginModule); librdkafka
    does it with SASL/OAUTHBEARER and a signed token, which the AWS signer package produces.
    Without that package we stop with a clear message rather than fail the SASL handshake.
    """
    try:
        from aws_msk_iam_sasl_signer import (  # type: ignore[import-not-found]
            MSKAuthTokenProvider,
        )
    except ImportError:
        raise CliError(
            "sasl.mechanism=AWS_MSK_IAM (IAMLoginModule) needs an MSK IAM token signer for "
            "librdkafka: install aws-msk-iam-sasl-signer-python, and connect to the cluster's "
            "IAM listener, which must accept SASL/OAUTHBEARER with MSK IAM tokens"
        ) from None
    found = _MSK_REGION.search(bootstrap)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or (found.group(1) if found else "us-east-1")

    def token(_config: str) -> tuple[str, float]:
        if iam.role_arn:
            value, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_role_arn(
                region, iam.role_arn
            )
        elif iam.profile:
            value, expiry_ms = MSKAuthTokenProvider.generate_auth_token_from_profile(
                region, iam.profile
            )
        else:
            value, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return str(value), float(expiry_ms) / 1000.0

    return token


def wait_for(
    done: Callable[[], bool],
    serve: Callable[[float], object],
    watch: ConnectionWatch,
    deadline: float,
    what: str,
) -> None:
    """Serve callbacks until ``done()``; fail on an unusable cluster or at the deadline."""
    while not done():
        serve(0.1)
        if done():
            return
        watch.check()
        if time.monotonic() >= deadline:
            raise CliError(f"timed out waiting to {what} (cluster at {watch.bootstrap})")


def result(future: Any, client: Any, watch: ConnectionWatch, deadline: float, what: str) -> Any:
    """Wait for an admin future while keeping the fail-fast checks alive."""
    wait_for(future.done, client.poll, watch, deadline, what)
    return future.result()


def metadata(client: Any, watch: ConnectionWatch, deadline: float, topic: str | None = None) -> Any:
    """Fetch cluster metadata in short attempts so an unreachable cluster is noticed early."""
    while True:
        try:
            md = client.list_topics(topic=topic, timeout=1.0)
            watch.reset()
            return md
        except KafkaException as exc:
            code = kafka_code(exc)
            if code not in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT):
                raise CliError(f"cannot fetch metadata: {kafka_message(exc)}") from None
        if hasattr(client, "poll"):
            client.poll(0)
        watch.check()
        if time.monotonic() >= deadline:
            raise CliError(f"timed out fetching metadata from {watch.bootstrap}")


def wait_topic(client: Any, watch: ConnectionWatch, deadline: float, topic: str) -> Any:
    """Metadata of ``topic``, retried briefly (a just-created topic takes a moment to appear)."""
    settle = min(deadline, time.monotonic() + 3.0)
    while True:
        md = metadata(client, watch, deadline, topic)
        tm = md.topics.get(topic)
        if tm is not None and tm.error is None and tm.partitions:
            return tm
        if (
            tm is not None
            and tm.error is not None
            and tm.error.code()
            not in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError.LEADER_NOT_AVAILABLE,
            )
        ):
            raise CliError(f"topic '{topic}': {tm.error.str()}")
        if time.monotonic() >= settle:
            raise CliError(
                f"Topic '{topic}' does not exist (create it with '{PROG} topics --create')"
            )
        time.sleep(0.2)
