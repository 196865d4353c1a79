"""``brook cluster describe``: the brokers of a cluster, their racks, the controller, and which
registered brokers are fenced — through the Kafka protocol, from any broker.

DescribeCluster names the controller and the live brokers with their racks; the partitions'
replica lists (Metadata) name every broker the cluster places data on, so a broker that holds
replicas but is not live is shown as fenced (its registration lapsed: dead, paused or cut off).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka.admin import AdminClient

from brook.cli import common

__all__ = ["main"]


def _parser() -> common.CliParser:
    p = common.new_parser("cluster", "Describe a brook cluster: brokers, racks, controller.")
    p.add_argument("action", choices=["describe"], help="what to do")
    p.add_argument("--bootstrap-server", help="host:port[,host:port...] of the cluster")
    p.add_argument("--command-config", help="client properties file (client.properties)")
    return p


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def describe(admin: Any, watch: common.ConnectionWatch, deadline: float) -> str:
    cluster = common.result(admin.describe_cluster(), admin, watch, deadline, "describe the cluster")
    md = common.metadata(admin, watch, deadline)
    live = {n.id: n for n in cluster.nodes}
    leaders: dict[int, int] = {}
    replicas: dict[int, int] = {}
    for topic in md.topics.values():
        for part in topic.partitions.values():
            leaders[part.leader] = leaders.get(part.leader, 0) + 1
            for r in part.replicas:
                replicas[r] = replicas.get(r, 0) + 1
    controller = cluster.controller.id if cluster.controller is not None else -1
    rows = [["BROKER", "ENDPOINT", "RACK", "STATE", "LEADERS", "REPLICAS"]]
    for broker_id in sorted(set(live) | set(replicas)):
        node = live.get(broker_id)
        state = "fenced" if node is None else "controller" if broker_id == controller else "active"
        rows.append([
            str(broker_id), f"{node.host}:{node.port}" if node else "-",
            (node.rack or "-") if node else "-", state,
            str(leaders.get(broker_id, 0)), str(replicas.get(broker_id, 0)),
        ])
    offline = leaders.get(-1, 0)
    lines = [
        f"Cluster id: {cluster.cluster_id}",
        f"Controller: {controller if controller >= 0 else 'none'}",
        f"Brokers: {len(live)} active, {len(rows) - 1 - len(live)} fenced",
        _table(rows),
    ]
    if offline:
        lines.append(f"Partitions without a leader: {offline}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    common.set_verbose(args.verbose)
    cfg = common.client_config(args.command_config, bootstrap=args.bootstrap_server)
    watch = common.ConnectionWatch(cfg.conf["bootstrap.servers"])
    admin = common.make_client(AdminClient, cfg, watch)
    print(describe(admin, watch, time.monotonic() + common.api_timeout(cfg)))
    return 0
