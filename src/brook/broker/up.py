"""``brook up``: the embedded default — one broker on 127.0.0.1:9092, data under ./data.

It prints the bootstrap string once the broker is serving, then runs in the foreground until
Ctrl-C (a clean shutdown: the next start skips log recovery).
"""

from __future__ import annotations

import argparse
import logging
import sys

from brook.broker.config import ConfigError
from brook.broker.main import build_parser, config_from_args, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brook up", description="Start brook locally.")
    parser.add_argument("--data-dir", default="./data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    listener = f"PLAINTEXT://{args.host}:{args.port}"
    broker_args = build_parser().parse_args(
        ["--node-id", "1", "--listeners", listener, "--data-dir", f"{args.data_dir}/broker-1"]
    )
    try:
        config = config_from_args(broker_args)
    except ConfigError as exc:
        print(f"brook up: {exc}", file=sys.stderr)
        return 2
    bootstrap = f"{args.host}:{args.port}"
    try:
        return run(config, f"brook is up. Bootstrap servers: {bootstrap}\n"
                           f"  try: kcat -b {bootstrap} -L")
    except OSError as exc:
        print(f"brook up: cannot start the broker on {bootstrap}: {exc}", file=sys.stderr)
        return 1
