"""``brook up``: the embedded default on one machine (``--azs``/``--brokers-per-az``: a local
cluster, see :mod:`brook.broker.up_cluster`).

One broker on 127.0.0.1:9092 (data under ``./data/broker-1``) and a Kafka Connect-compatible
worker beside it (REST on 127.0.0.1:8083) whose S3 sink writes to ``./data/s3/<bucket>/...``
unless a connector names a real ``store.url``. It prints the bootstrap string once both serve,
then runs in the foreground until Ctrl-C: the worker is stopped first, then the broker shuts
down cleanly (the next start skips log recovery).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from brook.broker.config import BrokerConfig, ConfigError
from brook.broker.main import build_parser, config_from_args

log = logging.getLogger("brook.up")


def _start_worker(bootstrap: str, data_dir: Path, rest_port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["BROOK_S3_DEFAULT_STORE_URL"] = (data_dir / "s3").resolve().as_uri()
    log_path = data_dir / "connect.log"
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "brook", "connect", "--bootstrap-server", bootstrap,
             "--rest-port", str(rest_port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )


async def _wait_rest(port: int, proc: subprocess.Popen[bytes], within_s: float = 60.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline and proc.poll() is None:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        return True
    return False


async def _serve(config: BrokerConfig, data_dir: Path, bootstrap: str, rest_port: int,
                 with_connect: bool) -> None:
    from brook.broker.node import BrokerNode

    node = BrokerNode(config)
    await node.start()
    worker = _start_worker(bootstrap, data_dir, rest_port) if with_connect else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        lines = [f"brook is up. Bootstrap servers: {bootstrap}", f"  try: kcat -b {bootstrap} -L"]
        if worker is not None:
            if await _wait_rest(rest_port, worker):
                lines.append(f"Kafka Connect REST API: http://127.0.0.1:{rest_port} "
                             f"(S3 sink output under {data_dir / 's3'})")
            else:
                lines.append(f"the connect worker did not start; see {data_dir / 'connect.log'}")
        print("\n".join(lines), flush=True)
        await stop.wait()
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(worker.wait, 20)
            if worker.poll() is None:
                worker.kill()
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brook up", description="Start brook locally.")
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--connect-port", type=int, default=8083)
    parser.add_argument("--no-connect", action="store_true", help="do not start a connect worker")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--azs", type=int, default=1,
                        help="availability zones of a local cluster (with --brokers-per-az)")
    parser.add_argument("--brokers-per-az", type=int, default=1,
                        help="brokers in each availability zone; more than one broker in all "
                             "starts a cluster whose metadata a local etcd keeps")
    parser.add_argument("--etcd-port", type=int, default=2379,
                        help="client port of the cluster's etcd (the next one is its peer port)")
    args = parser.parse_args(argv)
    if args.azs < 1 or args.brokers_per_az < 1:
        parser.error("--azs and --brokers-per-az must be at least 1")
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    data_dir = Path(args.data_dir)
    if args.azs * args.brokers_per_az > 1:
        from brook.broker.up_cluster import ClusterPlan, run_cluster

        return run_cluster(ClusterPlan(
            data_dir, args.host, args.port, args.azs, args.brokers_per_az, args.etcd_port,
            args.connect_port, not args.no_connect, args.log_level,
        ))
    listener = f"PLAINTEXT://{args.host}:{args.port}"
    broker_args = build_parser().parse_args(
        ["--node-id", "1", "--listeners", listener, "--data-dir", str(data_dir / "broker-1")]
    )
    try:
        config = config_from_args(broker_args)
    except ConfigError as exc:
        print(f"brook up: {exc}", file=sys.stderr)
        return 2
    data_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = f"{args.host}:{args.port}"
    try:
        import uvloop

        uvloop.run(_serve(config, data_dir, bootstrap, args.connect_port, not args.no_connect))
    except OSError as exc:
        print(f"brook up: cannot start on {bootstrap}: {exc}", file=sys.stderr)
        return 1
    return 0
