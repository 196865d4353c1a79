"""``brook broker``: run one broker process until SIGTERM/SIGINT.

Flags mirror the keys of ``server.properties`` (``--node-id`` is ``node.id``, ...); flags win
over the file, and ``--override key=value`` sets any other key, as ``kafka-server-start.sh``
does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from brook.broker.config import BrokerConfig, ConfigError, load_properties
from brook.env import SYSTEM_CLOCK, Clock
from brook.raft.fenced import DuplicateBrokerRegistration
from brook.storage.errors import LogDirError

log = logging.getLogger("brook.broker")


def build_parser(prog: str = "brook broker") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run a brook broker.")
    p.add_argument("--config", help="server.properties file")
    p.add_argument("--node-id", type=int, help="node.id (default 1)")
    p.add_argument("--listeners", help="listeners, e.g. PLAINTEXT://127.0.0.1:9092")
    p.add_argument("--advertised-listeners", help="advertised.listeners")
    p.add_argument("--data-dir", help="log.dirs (the broker's data directory)")
    p.add_argument("--rack", help="broker.rack (availability zone)")
    p.add_argument("--metadata", metavar="etcd://HOST:PORT,...",
                   help="metadata.store: join the cluster whose metadata this etcd keeps")
    p.add_argument("--cluster-id", help="cluster.id (the same on every broker of a cluster)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="any server.properties key")
    p.add_argument("--log-level", default="INFO")
    return p


def config_from_args(args: argparse.Namespace) -> BrokerConfig:
    props: dict[str, str] = {}
    if args.config:
        props.update(load_properties(args.config))
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--override {item!r} is not KEY=VALUE")
        props[key.strip()] = value.strip()
    if args.node_id is not None:
        props["node.id"] = str(args.node_id)
    props.setdefault("node.id", props.get("broker.id", "1"))
    if args.listeners:
        props["listeners"] = args.listeners
    if args.advertised_listeners:
        props["advertised.listeners"] = args.advertised_listeners
    if args.data_dir:
        props["log.dirs"] = args.data_dir
    if args.rack:
        props["broker.rack"] = args.rack
    if getattr(args, "metadata", None):
        props["metadata.store"] = args.metadata
    if getattr(args, "cluster_id", None):
        props["cluster.id"] = args.cluster_id
    config = BrokerConfig.from_props(props)
    store = config.value("metadata.store") or "local"
    if store != "local" and not store.startswith("etcd://"):
        raise ConfigError(f"metadata.store must be 'local' or etcd://host:port,..., not {store!r}")
    return config


async def serve(
    config: BrokerConfig, ready_message: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> None:
    from brook.broker.node import BrokerNode

    node = BrokerNode(config, clock)
    await node.start()
    if ready_message:
        print(ready_message, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopped = loop.create_task(stop.wait())
    replaced = loop.create_task(node.replaced())
    try:
        await asyncio.wait([stopped, replaced], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, replaced):
            task.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        await node.stop()
    if replaced.done() and not replaced.cancelled():
        # Serving on unregistered would answer clients as a broker the cluster has fenced.
        raise replaced.result()


def run(
    config: BrokerConfig, ready_message: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> int:
    from brook.broker.connection_limits import raise_nofile_limit

    nofile = raise_nofile_limit()
    log.debug("descriptor limit %d", nofile)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        asyncio.run(serve(config, ready_message, clock))
    else:
        uvloop.run(serve(config, ready_message, clock))
    return 0


def main(
    argv: list[str] | None = None, *, prog: str = "brook broker", clock: Clock = SYSTEM_CLOCK
) -> int:
    """``clock`` is the one time source of the whole broker; only test launchers pass
    another one."""
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"brook broker: {exc}", file=sys.stderr)
        return 2
    try:
        return run(config, f"brook broker {config.node_id} ready", clock)
    except ConfigError as exc:
        print(f"brook broker: {exc}", file=sys.stderr)
        return 2
    except (OSError, LogDirError, DuplicateBrokerRegistration) as exc:
        print(f"brook broker: {exc}", file=sys.stderr)
        return 1
