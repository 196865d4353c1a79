"""The REST API's worker-level endpoints: health, loggers, metrics, active topics, plugins.

Same paths, bodies and codes as Kafka Connect (``RootResource``, ``LoggingResource``,
``ConnectorsResource``'s topic endpoints, ``ConnectorPluginsResource``), plus ``GET /metrics``
for Prometheus. They sit behind the same body limit and authentication as the rest of the API
(``rest_security`` wraps the whole app).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from brook.connect.runtime import loggers, metrics, plugins
from brook.connect.runtime.herder import Herder, RestError

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 10.0
"""Kafka's ``/health`` deadline (hard-coded there too): a herder busy for longer is unhealthy."""
HEALTHY = "Worker has completed startup and is ready to handle requests."
STARTING = "Worker is still starting up."
UNHEALTHY = ("Worker was unable to handle this request and may be unable to handle other "
             "requests.")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def json_body(request: Request) -> Any:
    """The request's JSON body (whatever its content type, as curl users send it), or None."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RestError(400, f"Cannot deserialize JSON body: {type(exc).__name__}") from None


@cache
def build_commit() -> str:
    """The source checkout's commit (16 hex digits, as Kafka's ``commitId``), or ``unknown``.

    Read from the files of the git checkout the package runs from (``<checkout>/src/brook``,
    an editable install); an installed package has no checkout, and Kafka answers ``unknown``
    when it has no commit id.
    """
    src = Path(__file__).resolve().parents[3]
    if src.name != "src":
        return "unknown"
    git = src.parent / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        if git.is_dir():
            head = (git / "HEAD").read_text().strip()
            if not head.startswith("ref:"):
                return head[:16]  # a detached HEAD
            ref = head.split(":", 1)[1].strip()
            common = git / "commondir"
            base = (git / common.read_text().strip()).resolve() if common.is_file() else git
            for root in (git, base):
                if (root / ref).is_file():
                    return (root / ref).read_text().strip()[:16]
            for line in (base / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line[:16]
    except (OSError, IndexError):
        pass
    return "unknown"


def health(herder: Herder) -> tuple[int, dict[str, str]]:
    """Kafka's health check: the herder must be started and free to take a request."""
    if not herder.started:
        return 503, {"status": "starting", "message": STARTING}
    if not herder.lock.acquire(timeout=HEALTH_TIMEOUT_S):
        return 500, {"status": "unhealthy", "message": UNHEALTHY}
    herder.lock.release()
    return 200, {"status": "healthy", "message": HEALTHY}


def worker_metrics(herder: Herder) -> list[metrics.Sample]:
    """Kafka's ``connect-worker-metrics`` counts, and each connector's state in
    ``connector-metrics`` (a string in Kafka: a gauge of 1 with the state as a label here)."""
    running = dict(herder.connectors)  # a snapshot: the herder thread changes it
    out: list[metrics.Sample] = [
        ("connect-worker-metrics", "connector-count", {}, float(len(running))),
        ("connect-worker-metrics", "task-count", {}, float(len(herder.tasks))),
    ]
    for name, run in sorted(running.items()):
        out.append(("connector-metrics", "status",
                    {"connector": name, "status": run.state.lower()}, 1.0))
    return out


def apply_cluster_level(namespace: str, level: str) -> None:
    """A ``logger-cluster-*`` record read from the config topic (any worker may have written it)."""
    try:
        modified = loggers.LOGGERS.set_level(namespace, level)
    except loggers.BadLevel:
        log.error("ignoring the cluster log level %r for %s: not a level", level, namespace)
        return
    log.info("set the level of %s to %s for the cluster (%d loggers)", namespace, level,
             len(modified))


def add_routes(app: FastAPI, herder: Herder) -> None:
    herder.configs.on_logger_level = apply_cluster_level

    @app.get("/health")
    def get_health() -> JSONResponse:
        status, body = health(herder)
        return JSONResponse(body, status_code=status)

    @app.get("/metrics")
    def get_metrics() -> Response:
        return PlainTextResponse(metrics.render(extra=worker_metrics(herder)),
                                 media_type=PROMETHEUS_TEXT)

    @app.get("/connector-plugins")
    def list_plugins(connectorsOnly: bool = True) -> list[dict[str, str]]:
        return plugins.catalog(connectorsOnly)

    # active topics (KIP-558) -------------------------------------------------------------

    def _tracking(reset: bool = False) -> None:
        if not herder.worker.get("topic.tracking.enable"):
            raise RestError(403, "Topic tracking is disabled.")
        if reset and not herder.worker.get("topic.tracking.allow.reset"):
            raise RestError(403, "Topic tracking reset is disabled.")

    @app.get("/connectors/{name}/topics")
    def get_topics(name: str) -> dict[str, Any]:
        _tracking()
        return {name: {"topics": herder.status.active_topics(name)}}

    @app.put("/connectors/{name}/topics/reset", status_code=202)
    def reset_topics(name: str) -> Response:
        _tracking(reset=True)
        herder.status.reset_topics(name)
        return Response(status_code=202)

    @app.get("/connectors/{name}/tasks-config")
    def get_tasks_config(name: str) -> dict[str, dict[str, str]]:
        log.warning("The 'GET /connectors/{connector}/tasks-config' endpoint is deprecated; "
                    "use 'GET /connectors/{connector}/tasks' instead.")
        return {f"{t['id']['connector']}-{t['id']['task']}": t["config"]
                for t in herder.task_configs(name)}

    # loggers (KIP-495, KIP-976) ----------------------------------------------------------

    @app.get("/admin/loggers")
    def list_loggers() -> dict[str, dict[str, object]]:
        return loggers.LOGGERS.all_levels()

    @app.get("/admin/loggers/{logger}")
    def get_logger(logger: str) -> dict[str, object]:
        found = loggers.LOGGERS.level(logger)
        if found is None:
            raise RestError(404, f"Logger {logger} not found.")
        return found

    @app.put("/admin/loggers/{logger}", response_model=None)
    async def set_logger(logger: str, request: Request,
                         scope: str = Query(default="worker")) -> Any:
        body = await json_body(request)
        level = body.get("level") if isinstance(body, dict) else None
        if level is None:
            raise RestError(400, "Desired 'level' parameter was not specified in request.")
        if not isinstance(level, str):
            raise RestError(400, "The 'level' parameter must be a string.")
        try:
            loggers.parse_level(level)
        except loggers.BadLevel as exc:
            raise RestError(404, str(exc)) from None
        if scope.lower() == "cluster":
            await run_in_threadpool(herder.configs.put_logger_level, logger, level)
            return Response(status_code=204)
        if scope.lower() != "worker":
            log.warning("Received invalid scope '%s' in request to adjust logging level; will "
                        "default to worker", scope)
        return loggers.LOGGERS.set_level(logger, level)
