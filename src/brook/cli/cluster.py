"""``brook cluster describe``: the brokers of a cluster, their racks, the controller, and which
registered brokers are fenced — through the Kafka protocol, from any broker.

Metadata names the live brokers with their racks; a cluster broker names *itself* as the
controller there (it forwards admin requests, as KRaft brokers name a live broker), so the node
actually holding the controller's term comes from a DescribeCluster request, which librdkafka
does not send: it is sent here directly (v0, a few bytes each way). The partitions' replica
lists name every broker the cluster places data on, so a broker that holds replicas but is not
live is shown as fenced (its registration lapsed: dead, paused or cut off).
"""

from __future__ import annotations

import socket
import struct
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


_DESCRIBE_CLUSTER = 60


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def active_controller(host: str, port: int, timeout_s: float = 5.0) -> int:
    """The controller DescribeCluster v0 names (-1 when the broker knows none)."""
    client_id = b"brook-cli"
    header = struct.pack(">hhih", _DESCRIBE_CLUSTER, 0, 1, len(client_id)) + client_id + b"\x00"
    body = b"\x00\x00"  # include_cluster_authorized_operations=false, no tagged fields
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack_from(">i", data)[0]:
            chunk = sock.recv(65536)
            if not chunk:
                raise common.CliError(f"{host}:{port} closed the connection")
            data += chunk
    _, pos = _uvarint(data, 8)  # size, correlation id, then the header's tagged fields
    (error,) = struct.unpack_from(">h", data, pos + 4)
    if error:
        raise common.CliError(f"DescribeCluster failed with error code {error}")
    pos += 6
    for _ in range(2):  # error message, cluster id (compact strings)
        n, pos = _uvarint(data, pos)
        pos += max(n - 1, 0)
    (controller,) = struct.unpack_from(">i", data, pos)
    return int(controller)


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
    first = min(live.values(), key=lambda n: n.id)
    try:
        controller = active_controller(first.host, first.port)
    except (OSError, IndexError, struct.error) as exc:
        raise common.CliError(f"cannot ask {first.host}:{first.port} for the controller: {exc}") from None
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
