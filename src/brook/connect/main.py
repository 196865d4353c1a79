"""``brook connect``: run one Kafka Connect-compatible worker.

    brook connect --bootstrap-server HOST:PORT [--config worker.properties] [--override k=v]...

The worker keeps connector configs, source offsets and statuses in the compacted topics named
by ``config.storage.topic``/``offset.storage.topic``/``status.storage.topic`` (created when
missing), so a restarted worker resumes every connector. Workers started with the same
``group.id`` (and storage topics) share the connectors and tasks, and take over those of a
worker that leaves or dies (``runtime/group_member.py``, ``runtime/herder.py``).

The REST API listens on 127.0.0.1:8083 unless ``listeners``/``rest.host.name`` say otherwise;
``rest_security`` adds the body limit, basic authentication and TLS the worker config asks for.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import ssl
import sys
import threading
from pathlib import Path

import uvicorn
from confluent_kafka.admin import AdminClient

from brook.cli.properties import PropertiesError, load_properties
from brook.connect.runtime import log_context, rest_server
from brook.connect.runtime.group_member import WorkerGroupMember
from brook.connect.runtime.herder import Herder
from brook.connect.runtime.kafka_log import KafkaLog
from brook.connect.runtime.rest import create_app
from brook.connect.runtime.rest_security import (
    load_credentials,
    scratch_dir,
    secure,
    tls_options,
)
from brook.connect.runtime.sink_offsets import KafkaSinkOffsets
from brook.connect.runtime.stores import ConfigStore, OffsetStore, StatusStore
from brook.connect.runtime.worker_config import WorkerConfig

log = logging.getLogger("brook.connect")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="brook connect", description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap-server", help="overrides bootstrap.servers")
    p.add_argument("--config", help="worker .properties file (Kafka's connect-distributed.properties)")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--rest-port", type=int,
                   help="overrides rest.port (and the port of the first of listeners)")
    p.add_argument("--log-level", default="INFO")
    return p


def load_worker_config(args: argparse.Namespace) -> WorkerConfig:
    props: dict[str, str] = {}
    if args.config:
        props.update(load_properties(args.config))
    for item in args.override:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"brook connect: --override expects KEY=VALUE, got {item!r}")
        props[key.strip()] = value
    if args.bootstrap_server:
        props["bootstrap.servers"] = args.bootstrap_server
    if args.rest_port is not None:
        props["rest.port"] = str(args.rest_port)
        listeners = [x.strip() for x in props.get("listeners", "").split(",") if x.strip()]
        if listeners:
            head, _, _ = listeners[0].rpartition(":")
            props["listeners"] = ",".join([f"{head}:{args.rest_port}", *listeners[1:]])
    return WorkerConfig(props)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format=log_context.FORMAT)
    log_context.install()
    scratch = scratch_dir()
    try:
        return _run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, scratch: Path) -> int:
    try:
        worker = load_worker_config(args)
        tls = tls_options(worker, scratch) if worker.listener.scheme == "https" else {}
        if worker.basic_auth:
            load_credentials(worker)  # refuse bad auth settings before joining the group
    except (PropertiesError, OSError, ValueError, ssl.SSLError) as exc:
        sys.stderr.write(f"brook connect: error: {exc}\n")
        return 2
    admin_conf = worker.client_conf("admin")
    admin = AdminClient(admin_conf)  # must outlive its future
    cluster_id = admin.describe_cluster(request_timeout=30).result(timeout=30).cluster_id or ""
    base = worker.client_conf()

    def topic_log(kind: str, partitions: int) -> KafkaLog:
        return KafkaLog(base, worker.get(f"{kind}.storage.topic"), partitions,
                        int(worker.get(f"{kind}.storage.replication.factor")))

    configs = ConfigStore(topic_log("config", 1))
    offsets = OffsetStore(topic_log("offset", int(worker.get("offset.storage.partitions"))))
    status = StatusStore(topic_log("status", int(worker.get("status.storage.partitions"))),
                         worker.worker_id(worker.rest_port))
    member = WorkerGroupMember(base, worker.get("group.id"), status.worker_id,
                               worker.get("config.storage.topic"),
                               worker.get("session.timeout.ms"), worker.get("heartbeat.interval.ms"))
    herder = Herder(worker, configs, offsets, status, KafkaSinkOffsets(base), member.members)
    member.on_change = herder.wake
    app = secure(create_app(herder, cluster_id), worker)
    server = uvicorn.Server(uvicorn.Config(
        app, host=worker.rest_host, port=worker.rest_port, log_level="warning", lifespan="off",
        http=rest_server.protocol(int(worker.get("rest.request.read.timeout.ms"))), **tls))
    member.start()
    # The REST API answers while the herder starts (GET /health: 503 until it has), as Kafka's.
    threading.Thread(target=herder.start, name="herder-start", daemon=True).start()
    log.info("worker %s started; REST on %s://%s:%d%s", status.worker_id, worker.listener.scheme,
             worker.rest_host, worker.rest_port, " (basic auth)" if worker.basic_auth else "")
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        herder.stop()  # tasks commit what they wrote before the group hands them on
        member.close()
        for store_log in (configs.log, offsets.log, status.log):
            store_log.close()
    return 0
