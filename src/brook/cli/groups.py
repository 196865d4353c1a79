"""``brook groups``: kafka-consumer-groups.sh on librdkafka's AdminClient.

``--list``, ``--describe`` (offsets and lag per partition, ``--members``, ``--state``),
``--delete`` and ``--reset-offsets`` with the script's flags and output layout. Lag is the
log end offset minus the committed offset, as Kafka computes it; a partition without a
committed offset shows ``-``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import OffsetSpec as _OffsetSpec  # type: ignore[attr-defined]

from brook.cli import common
from brook.cli.common import CliError

ACTIONS = ("list", "describe", "delete", "reset-offsets")
OffsetSpec: Any = _OffsetSpec  # untyped in confluent-kafka
_RESETS = ("to-earliest", "to-latest", "to-offset", "shift-by", "to-datetime")


def build_parser() -> argparse.ArgumentParser:
    p = common.new_parser("groups", "List, describe, delete consumer groups and reset offsets.")
    p.add_argument("action", nargs="?", choices=ACTIONS, help="action (same as --ACTION)")
    for action in ACTIONS:
        p.add_argument(f"--{action}", dest=f"do_{action.replace('-', '_')}", action="store_true")
    p.add_argument("--bootstrap-server", help="host:port[,host:port...] of the cluster")
    p.add_argument("--command-config", help="client properties file (client.properties)")
    p.add_argument("--group", action="append", help="group id (repeatable)")
    p.add_argument("--all-groups", action="store_true")
    p.add_argument("--members", action="store_true", help="with --describe: the members")
    p.add_argument("--state", nargs="?", const="", default=None,
                   help="with --describe: group state; with --list: filter by states")
    p.add_argument("--offsets", action="store_true", help="with --describe: offsets (default)")
    p.add_argument("--topic", action="append", help="TOPIC or TOPIC:P1,P2 for --reset-offsets")
    p.add_argument("--all-topics", action="store_true")
    p.add_argument("--to-earliest", action="store_true")
    p.add_argument("--to-latest", action="store_true")
    p.add_argument("--to-offset", type=int)
    p.add_argument("--shift-by", type=int)
    p.add_argument("--to-datetime", help="YYYY-MM-DDTHH:mm:SS.sss, UTC unless an offset is given")
    p.add_argument("--execute", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    common.set_verbose(args.verbose)
    action = common.chosen_action(args, ACTIONS)
    cfg = common.client_config(args.command_config, bootstrap=args.bootstrap_server)
    watch = common.ConnectionWatch(cfg.conf["bootstrap.servers"])
    admin = common.make_client(AdminClient, cfg, watch)
    ops = _Ops(admin, watch, time.monotonic() + common.api_timeout(cfg))
    if action == "list":
        ops.do_list(args)
        return 0
    groups = ops.groups(args)
    {"describe": ops.do_describe, "delete": ops.do_delete, "reset-offsets": ops.do_reset}[
        action
    ](args, groups)
    return 0


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        " ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    )


class _Ops:
    def __init__(self, admin: Any, watch: common.ConnectionWatch, deadline: float) -> None:
        self.admin = admin
        self.watch = watch
        self.deadline = deadline

    def _get(self, future: Any, what: str) -> Any:
        try:
            return common.result(future, self.admin, self.watch, self.deadline, what)
        except CliError:
            raise
        except Exception as exc:
            raise CliError(f"cannot {what}: {common.kafka_message(exc)}") from None

    def _listing(self, states: list[str] | None = None) -> list[Any]:
        from confluent_kafka import ConsumerGroupState

        kwargs: dict[str, Any] = {}
        if states:
            try:
                kwargs["states"] = {ConsumerGroupState[s.strip().upper()] for s in states}
            except KeyError as exc:
                raise CliError(f"unknown group state {exc.args[0]}", code=2) from None
        res = self._get(self.admin.list_consumer_groups(**kwargs), "list consumer groups")
        return sorted(res.valid, key=lambda g: g.group_id)

    def groups(self, args: argparse.Namespace) -> list[str]:
        if args.all_groups:
            return [g.group_id for g in self._listing()]
        if not args.group:
            raise CliError("missing required option --group (or --all-groups)", code=2)
        return list(dict.fromkeys(args.group))

    def do_list(self, args: argparse.Namespace) -> None:
        states = None
        if args.state is not None:
            states = [s for s in args.state.split(",") if s.strip()] or None
        listing = self._listing(states)
        if args.state is not None:
            rows = [["GROUP", "STATE"]] + [[g.group_id, _state(g.state)] for g in listing]
            print(_table(rows))
            return
        for g in listing:
            print(g.group_id)

    # -- describe ----------------------------------------------------------------------------
    def _describe(self, group: str) -> Any:
        futures = self.admin.describe_consumer_groups([group])
        return self._get(futures[group], f"describe group {group}")

    def _committed(self, group: str) -> dict[tuple[str, int], int]:
        futures = self.admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        res = self._get(futures[group], f"fetch offsets of group {group}")
        return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions or []}

    def _offsets(self, tps: list[tuple[str, int]], spec: Any) -> dict[tuple[str, int], int]:
        if not tps:
            return {}
        futures = self.admin.list_offsets({TopicPartition(t, p): spec for t, p in tps})
        out = {}
        for tp, fut in futures.items():
            out[(tp.topic, tp.partition)] = self._get(fut, f"list offsets of {tp.topic}").offset
        return out

    def do_describe(self, args: argparse.Namespace, groups: list[str]) -> None:
        for group in groups:
            desc = self._describe(group)
            state = _state(desc.state)
            print()
            if args.state is not None:
                coord = desc.coordinator
                rows = [["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
                        [group, f"{coord.host}:{coord.port} ({coord.id})",
                         desc.partition_assignor or "", state, str(len(desc.members))]]
                print(_table(rows))
                continue
            if args.members:
                rows = [["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"]]
                for m in desc.members:
                    parts = m.assignment.topic_partitions if m.assignment else []
                    rows.append([group, m.member_id, m.host, m.client_id, str(len(parts))])
                print(_table(rows))
                continue
            self._describe_offsets(group, desc, state)

    def _describe_offsets(self, group: str, desc: Any, state: str) -> None:
        owner: dict[tuple[str, int], Any] = {}
        for m in desc.members:
            for tp in (m.assignment.topic_partitions if m.assignment else []):
                owner[(tp.topic, tp.partition)] = m
        committed = self._committed(group)
        tps = sorted(set(committed) | set(owner))
        if not tps:
            print(f"Consumer group '{group}' has no active members and no committed offsets.")
            return
        if state in ("Empty", "Dead"):
            print(f"Consumer group '{group}' has no active members.\n")
        ends = self._offsets(tps, OffsetSpec.latest())
        rows = [["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                 "CONSUMER-ID", "HOST", "CLIENT-ID"]]
        for t, p in tps:
            cur = committed.get((t, p), -1001)
            end = ends.get((t, p), -1)
            m = owner.get((t, p))
            rows.append([
                group, t, str(p),
                str(cur) if cur >= 0 else "-",
                str(end) if end >= 0 else "-",
                str(max(end - cur, 0)) if cur >= 0 and end >= 0 else "-",
                m.member_id if m else "-", m.host if m else "-", m.client_id if m else "-",
            ])
        print(_table(rows))

    # -- delete ------------------------------------------------------------------------------
    def do_delete(self, args: argparse.Namespace, groups: list[str]) -> None:
        futures = self.admin.delete_consumer_groups(groups)
        failed = []
        for group in groups:
            try:
                self._get(futures[group], f"delete group {group}")
            except CliError as exc:
                failed.append(f"{group}: {exc}")
        ok = [g for g in groups if not any(f.startswith(f"{g}:") for f in failed)]
        if ok:
            names = ", ".join(f"'{g}'" for g in ok)
            print(f"Deletion of requested consumer groups ({names}) was successful.")
        if failed:
            raise CliError("; ".join(failed))

    # -- reset offsets -----------------------------------------------------------------------
    def _targets(self, args: argparse.Namespace, group: str) -> list[tuple[str, int]]:
        if args.all_topics:
            return sorted(self._committed(group))
        if not args.topic:
            raise CliError("--reset-offsets needs --topic or --all-topics", code=2)
        out: list[tuple[str, int]] = []
        md = common.metadata(self.admin, self.watch, self.deadline)
        for spec in args.topic:
            name, _, parts = spec.partition(":")
            tm = md.topics.get(name)
            if tm is None or tm.error is not None:
                raise CliError(f"topic '{name}' does not exist")
            chosen = [int(x) for x in parts.split(",") if x.strip()] if parts else sorted(
                tm.partitions)
            out += [(name, p) for p in chosen]
        return out

    def do_reset(self, args: argparse.Namespace, groups: list[str]) -> None:
        chosen = [r for r in _RESETS if getattr(args, r.replace("-", "_")) not in (None, False)]
        if len(chosen) != 1:
            raise CliError("choose one of --to-earliest, --to-latest, --to-offset, --shift-by, "
                           "--to-datetime", code=2)
        how = chosen[0]
        for group in groups:
            desc = self._describe(group)
            state = _state(desc.state)
            if args.execute and state not in ("Empty", "Dead"):
                raise CliError(
                    f"Assignments can only be reset if the group '{group}' is inactive, but the "
                    f"current state is {state}.")
            tps = self._targets(args, group)
            early = self._offsets(tps, OffsetSpec.earliest())
            late = self._offsets(tps, OffsetSpec.latest())
            new: dict[tuple[str, int], int] = {}
            if how == "to-earliest":
                new = dict(early)
            elif how == "to-latest":
                new = dict(late)
            elif how == "to-offset":
                new = {tp: args.to_offset for tp in tps}
            elif how == "shift-by":
                current = self._committed(group)
                new = {tp: current.get(tp, late[tp]) + args.shift_by for tp in tps}
            else:
                ms = _parse_datetime(args.to_datetime)
                found = self._offsets(tps, OffsetSpec.for_timestamp(ms))
                new = {tp: (off if off >= 0 else late[tp]) for tp, off in found.items()}
            new = {tp: min(max(off, early[tp]), late[tp]) for tp, off in new.items()}
            if args.execute:
                req = ConsumerGroupTopicPartitions(
                    group, [TopicPartition(t, p, off) for (t, p), off in sorted(new.items())])
                futures = self.admin.alter_consumer_group_offsets([req])
                self._get(futures[group], f"reset offsets of group {group}")
            rows = [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]] + [
                [group, t, str(p), str(off)] for (t, p), off in sorted(new.items())]
            print()
            print(_table(rows))
        if not args.execute:
            print("\n(dry run: add --execute to apply)")


def _state(state: Any) -> str:
    name = getattr(state, "name", str(state))
    return {"PREPARING_REBALANCING": "PreparingRebalance",
            "COMPLETING_REBALANCING": "CompletingRebalance"}.get(
        name, name.capitalize() if name.isupper() else name)


def _parse_datetime(text: str) -> int:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--to-datetime {text!r} is not YYYY-MM-DDTHH:mm:SS[.sss]", code=2) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)
