"""``brook topics``: kafka-topics.sh for brook (and any Kafka cluster).

Accepts both the script's action flags (``--create --topic x``) and a subcommand spelling
(``create x``) so that copied tutorial commands and hand-typed ones both work. Output follows
kafka-topics.sh, because scripts and people grep it.
"""

from __future__ import annotations

import argparse
import base64
import re
import struct
import sys
import time
from typing import Any

from confluent_kafka import KafkaError, TopicCollection
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
)

from brook.cli import common
from brook.cli.common import CliError

ACTIONS = ("create", "list", "describe", "alter", "delete")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__cluster_metadata"})
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_UNSUPPORTED = (KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION)


def build_parser() -> argparse.ArgumentParser:
    p = common.new_parser("topics", "Create, list, describe, alter and delete topics.")
    p.add_argument("action", nargs="?", choices=ACTIONS, help="action (same as --ACTION)")
    p.add_argument("name", nargs="?", help="topic name (same as --topic)")
    for action in ACTIONS:
        p.add_argument(f"--{action}", dest=f"do_{action}", action="store_true")
    p.add_argument("--bootstrap-server", help="host:port[,host:port...] of the cluster")
    p.add_argument("--command-config", help="client properties file (client.properties)")
    p.add_argument(
        "--topic", help="topic name; a regular expression for list/describe/alter/delete"
    )
    p.add_argument("--partitions", type=int)
    p.add_argument("--replication-factor", type=int)
    p.add_argument("--replica-assignment", help="p0r1:p0r2,p1r1:p1r2,... broker ids per partition")
    p.add_argument("--config", action="append", metavar="K=V", help="topic config (repeatable)")
    p.add_argument("--delete-config", action="append", metavar="K", help="remove a topic config")
    p.add_argument("--if-not-exists", action="store_true")
    p.add_argument("--if-exists", action="store_true")
    p.add_argument("--exclude-internal", action="store_true")
    p.add_argument("--topics-with-overrides", action="store_true")
    p.add_argument("--under-replicated-partitions", action="store_true")
    p.add_argument("--unavailable-partitions", action="store_true")
    p.add_argument("--under-min-isr-partitions", action="store_true")
    p.add_argument("--at-min-isr-partitions", action="store_true")
    return p


def _action(args: argparse.Namespace) -> str:
    action = common.chosen_action(args, ACTIONS)
    if args.name:
        if args.topic and args.topic != args.name:
            raise CliError(f"topic given twice: {args.name!r} and --topic {args.topic!r}", code=2)
        args.topic = args.name
    return action


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.set_verbose(args.verbose)
    action = _action(args)
    cfg = common.client_config(args.command_config, bootstrap=args.bootstrap_server)
    watch = common.ConnectionWatch(cfg.conf["bootstrap.servers"])
    admin = common.make_client(AdminClient, cfg, watch)
    ops = _Ops(admin, watch, time.monotonic() + common.api_timeout(cfg))
    handler = {
        "create": ops.do_create,
        "list": ops.do_list,
        "describe": ops.do_describe,
        "alter": ops.do_alter,
        "delete": ops.do_delete,
    }[action]
    handler(args)
    return 0


def topic_id_str(uuid: Any) -> str:
    """Kafka prints topic ids as URL-safe unpadded base64 of the 128-bit id."""
    if uuid is None:
        return ""
    raw = struct.pack(">qq", uuid.get_most_significant_bits(), uuid.get_least_significant_bits())
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class _Refused(CliError):
    """The cluster answered with an error (as opposed to not answering at all)."""


class _Ops:
    """The five actions, sharing one admin client, watch and deadline."""

    def __init__(self, admin: Any, watch: common.ConnectionWatch, deadline: float) -> None:
        self.admin = admin
        self.watch = watch
        self.deadline = deadline

    def _outcome(self, future: Any, what: str) -> tuple[Any, Exception | None]:
        """(result, None), or (None, the cluster's error) for the caller to judge."""
        try:
            return common.result(future, self.admin, self.watch, self.deadline, what), None
        except CliError:
            raise
        except Exception as exc:
            return None, exc

    def _must(self, future: Any, what: str) -> Any:
        value, exc = self._outcome(future, what)
        if exc is not None:
            raise _Refused(f"cannot {what}: {common.kafka_message(exc)}")
        return value

    def _topics(self) -> dict[str, Any]:
        md = common.metadata(self.admin, self.watch, self.deadline)
        return dict(md.topics)

    def _matching(self, args: argparse.Namespace, required: bool) -> list[str]:
        """Topics selected by --topic (a regex, as in kafka-topics.sh) or all of them."""
        topics = self._topics()
        names = sorted(topics)
        if args.exclude_internal:
            names = [n for n in names if not _is_internal(n)]
        if args.topic:
            if args.topic in topics:
                return [args.topic]
            try:
                pattern = re.compile(args.topic.replace(",", "|"))
            except re.error:
                pattern = re.compile(re.escape(args.topic))
            names = [n for n in names if pattern.fullmatch(n)]
            if not names and not args.if_exists and required:
                raise CliError(f"Topic '{args.topic}' does not exist as expected")
        elif required:
            raise CliError("--topic is required for this action", code=2)
        return names

    # --- create ---------------------------------------------------------------------------

    def do_create(self, args: argparse.Namespace) -> None:
        if not args.topic:
            raise CliError("--topic is required to create a topic", code=2)
        name = args.topic
        if _LEGAL_NAME.fullmatch(name) is None or name in (".", ".."):
            raise CliError(
                f"Topic name '{name}' is illegal: use up to 249 of the characters "
                "[a-zA-Z0-9._-], and not '.' or '..'",
                code=2,
            )
        if "." in name or "_" in name:
            common.warn(
                "topics with a period ('.') or underscore ('_') could collide in metric names; "
                "it is best to use either, but not both"
            )
        configs = common.parse_kv(args.config, "--config")
        kwargs: dict[str, Any] = {"config": configs}
        if args.replica_assignment:
            if args.partitions is not None or args.replication_factor is not None:
                raise CliError(
                    "--replica-assignment cannot be combined with --partitions or "
                    "--replication-factor",
                    code=2,
                )
            kwargs["replica_assignment"] = _parse_assignment(args.replica_assignment)
        else:
            for flag, value in (
                ("--partitions", args.partitions),
                ("--replication-factor", args.replication_factor),
            ):
                if value is not None and value < 1:
                    raise CliError(f"{flag} must be at least 1", code=2)
            kwargs["num_partitions"] = args.partitions if args.partitions is not None else -1
            rf = args.replication_factor
            kwargs["replication_factor"] = rf if rf is not None else -1
        future = self.admin.create_topics([NewTopic(name, **kwargs)])[name]
        _, exc = self._outcome(future, f"create topic '{name}'")
        if exc is not None:
            if common.kafka_code(exc) != KafkaError.TOPIC_ALREADY_EXISTS:
                raise CliError(f"cannot create topic '{name}': {common.kafka_message(exc)}")
            if args.if_not_exists:
                return
            raise CliError(f"Topic '{name}' already exists.")
        print(f"Created topic {name}.")

    # --- list -------------------------------------------------------------------------------

    def do_list(self, args: argparse.Namespace) -> None:
        for name in self._matching(args, required=False):
            print(name)

    # --- describe ---------------------------------------------------------------------------

    def do_describe(self, args: argparse.Namespace) -> None:
        names = self._matching(args, required=bool(args.topic))
        if not names:
            return
        descriptions = self._describe_topics(names)
        configs = self._describe_configs(names)
        partition_filter = (args.under_replicated_partitions or args.unavailable_partitions
                            or args.under_min_isr_partitions or args.at_min_isr_partitions)
        live = self._live_brokers() if args.unavailable_partitions else set()
        lines: list[str] = []
        for name in names:
            desc = descriptions.get(name)
            if desc is None:
                continue
            topic_id, partitions = desc
            every = configs.get(name, [])
            overrides = [(k, v, src) for k, v, src in every if src != _DEFAULT_SOURCE]
            if args.topics_with_overrides and not any(
                source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value for _, _, source in overrides
            ):
                continue
            min_isr = _min_isr(every)
            if not partition_filter:
                rf = len(partitions[0][2]) if partitions else 0
                conf_text = ",".join(f"{k}={v}" for k, v, _ in overrides)
                lines.append(
                    f"Topic: {name}\tTopicId: {topic_id}\tPartitionCount: {len(partitions)}\t"
                    f"ReplicationFactor: {rf}\tConfigs: {conf_text}"
                )
            for pid, leader, replicas, isr in partitions:
                # kafka-topics.sh's filters: a partition is listed if it matches any given.
                if partition_filter and not (
                    (args.under_replicated_partitions and len(isr) < len(replicas))
                    or (args.unavailable_partitions and (leader is None or leader not in live))
                    or (args.under_min_isr_partitions and min_isr is not None
                        and len(isr) < min_isr)
                    or (args.at_min_isr_partitions and min_isr is not None
                        and len(isr) == min_isr)
                ):
                    continue
                lines.append(
                    f"\tTopic: {name}\tPartition: {pid}\t"
                    f"Leader: {'none' if leader is None else leader}\t"
                    f"Replicas: {_ids(replicas)}\tIsr: {_ids(isr)}"
                )
        sys.stdout.write("".join(line + "\n" for line in lines))

    def _describe_topics(self, names: list[str]) -> dict[str, tuple[str, list[Any]]]:
        """Topic id and (partition, leader, replicas, isr) rows; Metadata as a fallback."""
        result: dict[str, tuple[str, list[Any]]] = {}
        try:
            futures = self.admin.describe_topics(TopicCollection(names))
            for name, fut in futures.items():
                d = self._must(fut, f"describe topic '{name}'")
                rows = [
                    (
                        p.id,
                        p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
                        [n.id for n in p.replicas],
                        [n.id for n in p.isr],
                    )
                    for p in sorted(d.partitions, key=lambda p: p.id)
                ]
                result[name] = (topic_id_str(d.topic_id), rows)
            return result
        except _Refused as exc:
            common.debug(f"DescribeTopics failed ({exc}); using Metadata")
        topics = self._topics()
        for name in names:
            tm = topics.get(name)
            if tm is None:
                continue
            rows = [
                (p.id, p.leader if p.leader >= 0 else None, list(p.replicas), list(p.isrs))
                for p in sorted(tm.partitions.values(), key=lambda p: p.id)
            ]
            result[name] = ("", rows)
        return result

    def _live_brokers(self) -> set[int]:
        md = common.metadata(self.admin, self.watch, self.deadline)
        return set(md.brokers)

    def _describe_configs(self, names: list[str]) -> dict[str, list[tuple[str, str, int]]]:
        """Configs per topic, as (name, value, source) sorted by name; defaults carry
        ``_DEFAULT_SOURCE`` (only min.insync.replicas is kept of them, for the ISR filters)."""
        out: dict[str, list[tuple[str, str, int]]] = {}
        try:
            futures = self.admin.describe_configs([ConfigResource("topic", n) for n in names])
            for resource, fut in futures.items():
                entries = self._must(fut, f"describe configs of '{resource.name}'")
                out[resource.name] = sorted(
                    (e.name, e.value,
                     _DEFAULT_SOURCE if e.is_default else int(getattr(e.source, "value", e.source)))
                    for e in entries.values()
                    if e.value is not None and (not e.is_default or e.name == _MIN_ISR)
                )
        except _Refused as exc:
            common.debug(f"DescribeConfigs failed: {exc}")
        return out

    # --- alter ------------------------------------------------------------------------------

    def do_alter(self, args: argparse.Namespace) -> None:
        names = self._matching(args, required=True)
        if not names:
            return
        sets = common.parse_kv(args.config, "--config")
        deletes = list(args.delete_config or [])
        if args.partitions is None and not sets and not deletes:
            raise CliError("--alter needs --partitions, --config or --delete-config", code=2)
        if args.replication_factor is not None:
            raise CliError("--replication-factor cannot be changed with --alter", code=2)
        internal = [n for n in names if _is_internal(n)]
        if internal:
            raise CliError(f"internal topic '{internal[0]}' cannot be altered")
        if args.partitions is not None:
            self._add_partitions(names, args.partitions)
        if sets or deletes:
            self._alter_configs(names, sets, deletes)

    def _add_partitions(self, names: list[str], count: int) -> None:
        topics = self._topics()
        for name in names:
            current = len(topics[name].partitions)
            if count <= current:
                raise CliError(
                    f"The number of partitions for a topic can only be increased. "
                    f"Topic {name} currently has {current} partitions, {count} would not be "
                    "an increase."
                )
        futures = self.admin.create_partitions([NewPartitions(n, count) for n in names])
        for name, fut in futures.items():
            self._must(fut, f"add partitions to '{name}'")

    def _alter_configs(self, names: list[str], sets: dict[str, str], deletes: list[str]) -> None:
        entries = [
            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in sets.items()
        ] + [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in deletes]
        resources = [ConfigResource("topic", n, incremental_configs=entries) for n in names]
        for resource, fut in self.admin.incremental_alter_configs(resources).items():
            what = f"alter configs of '{resource.name}'"
            _, exc = self._outcome(fut, what)
            if exc is not None and common.kafka_code(exc) in _UNSUPPORTED:
                self._alter_configs_legacy(resource.name, sets, deletes)
            elif exc is not None:
                raise CliError(f"cannot {what}: {common.kafka_message(exc)}")

    def _alter_configs_legacy(self, name: str, sets: dict[str, str], deletes: list[str]) -> None:
        """AlterConfigs replaces every override, so merge with the current ones first."""
        current = self._describe_configs([name]).get(name, [])
        merged = {k: v for k, v, src in current if src == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
        merged.update(sets)
        for key in deletes:
            merged.pop(key, None)
        resource = ConfigResource("topic", name, set_config=merged)
        for fut in self.admin.alter_configs([resource]).values():
            self._must(fut, f"alter configs of '{name}'")

    # --- delete -----------------------------------------------------------------------------

    def do_delete(self, args: argparse.Namespace) -> None:
        names = self._matching(args, required=True)
        if not names:
            return
        internal = [n for n in names if _is_internal(n)]
        if internal:
            raise CliError(
                f"Topic {internal[0]} is an internal topic and is not allowed to be marked for "
                "deletion."
            )
        for name, fut in self.admin.delete_topics(names).items():
            _, exc = self._outcome(fut, f"delete topic '{name}'")
            gone = common.kafka_code(exc) == KafkaError.UNKNOWN_TOPIC_OR_PART if exc else False
            if exc is not None and not (gone and args.if_exists):
                raise CliError(f"cannot delete topic '{name}': {common.kafka_message(exc)}")


_MIN_ISR = "min.insync.replicas"
_DEFAULT_SOURCE = -1
"""Marks a config at its default in ``_describe_configs`` (not a ConfigSource value)."""


def _min_isr(configs: list[tuple[str, str, int]]) -> int | None:
    for name, value, _ in configs:
        if name == _MIN_ISR:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_internal(name: str) -> bool:
    return name in INTERNAL_TOPICS


def _ids(ids: list[int]) -> str:
    return ",".join(str(i) for i in ids)


def _parse_assignment(text: str) -> list[list[int]]:
    """``1:2,2:3`` -> [[1, 2], [2, 3]]: one colon-separated replica list per partition."""
    try:
        assignment = [[int(b) for b in part.split(":")] for part in text.split(",")]
    except ValueError:
        raise CliError(
            f"--replica-assignment must look like 1:2,2:3, got {text!r}", code=2
        ) from None
    sizes = {len(a) for a in assignment}
    if len(sizes) != 1:
        raise CliError("--replica-assignment: every partition needs the same replica count", code=2)
    return assignment
