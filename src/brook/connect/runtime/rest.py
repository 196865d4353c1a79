"""Kafka Connect's REST API on FastAPI (same paths, bodies, status codes and error shape).

Handlers are plain ``def``s: the herder blocks (it talks to Kafka and joins task threads), so
Starlette runs them on its thread pool and the event loop stays responsive.

Bad input never answers 500: bodies are bounded (``rest_security.BodyLimit``) and parsed
defensively, connector names are checked once where a connector is created
(``validation.check_connector_name``), path segments are decoded once by the server and used
as they are, and the ``Location`` header carries the name percent-encoded.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from brook import __version__
from brook.connect.runtime import offsets_api, plugins, rest_admin
from brook.connect.runtime.herder import Herder, RestError
from brook.connect.runtime.rest_security import BodyTooLarge

log = logging.getLogger(__name__)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error_code": status, "message": message}, status_code=status)


_json_body = rest_admin.json_body


def _location(name: str) -> str:
    return "/connectors/" + urllib.parse.quote(name, safe="")


def create_app(herder: Herder, cluster_id: str = "") -> FastAPI:
    app = FastAPI(title="brook connect", version=__version__, docs_url=None, redoc_url=None)

    @app.exception_handler(RestError)
    async def rest_error(_: Request, exc: RestError) -> JSONResponse:
        return _error(exc.status, exc.message)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, str(exc.errors()))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("REST request failed")
        return _error(500, f"{type(exc).__name__}: {exc}")

    @app.get("/")
    def root() -> dict[str, str]:
        return {"version": __version__, "commit": rest_admin.build_commit(),
                "kafka_cluster_id": cluster_id}

    @app.get("/connectors", response_model=None)
    def list_connectors(expand: list[str] = Query(default=[])) -> Any:
        names = herder.connector_names()
        if not expand:
            return names
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            entry: dict[str, Any] = {}
            if "status" in expand:
                entry["status"] = herder.connector_status(name)
            if "info" in expand:
                entry["info"] = herder.connector_info(name)
            out[name] = entry
        return out

    @app.post("/connectors", status_code=201)
    async def create_connector(request: Request, response: Response) -> Any:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            raise RestError(400, "Request body must contain \"name\" and \"config\"")
        name = body.get("name") or body["config"].get("name")
        if not isinstance(name, str) or not name.strip():
            raise RestError(400, "Connector name must be provided")
        name = name.strip()  # as Kafka's ConnectorsResource does
        await _threaded(request, herder.create, name, body["config"], body.get("initial_state"))
        response.headers["Location"] = _location(name)
        return herder.connector_info(name)

    @app.get("/connectors/{name}")
    def get_connector(name: str) -> dict[str, Any]:
        return herder.connector_info(name)

    @app.get("/connectors/{name}/config")
    def get_config(name: str) -> dict[str, str]:
        return herder.connector_config(name)

    @app.put("/connectors/{name}/config")
    async def put_config(name: str, request: Request, response: Response) -> Any:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise RestError(400, "Connector configuration must be a JSON object")
        created = await _threaded(request, herder.create, name, body, None, True)
        response.status_code = 201 if created else 200
        if created:
            response.headers["Location"] = _location(name)
        return herder.connector_info(name)

    @app.get("/connectors/{name}/status")
    def get_status(name: str) -> dict[str, Any]:
        return herder.connector_status(name)

    @app.get("/connectors/{name}/tasks")
    def get_tasks(name: str) -> list[dict[str, Any]]:
        return herder.task_configs(name)

    @app.get("/connectors/{name}/tasks/{task_id}/status")
    def get_task_status(name: str, task_id: int) -> dict[str, Any]:
        return herder.task_status(name, task_id)

    @app.post("/connectors/{name}/tasks/{task_id}/restart", status_code=204)
    def restart_task(name: str, task_id: int, request: Request) -> Response:
        herder.restart_task(name, task_id, request.headers.get("authorization"))
        return Response(status_code=204)

    @app.post("/connectors/{name}/restart", response_model=None)
    def restart(name: str, includeTasks: bool = False, onlyFailed: bool = False) -> Any:
        plan = herder.restart(name, includeTasks, onlyFailed)
        if plan is None:
            return Response(status_code=204)
        return JSONResponse(plan, status_code=202)

    @app.put("/connectors/{name}/pause", status_code=202)
    def pause(name: str) -> Response:
        herder.pause(name)
        return Response(status_code=202)

    @app.put("/connectors/{name}/resume", status_code=202)
    def resume(name: str) -> Response:
        herder.resume(name)
        return Response(status_code=202)

    @app.put("/connectors/{name}/stop", status_code=204)
    def stop(name: str) -> Response:
        herder.stop_connector(name)
        return Response(status_code=204)

    @app.delete("/connectors/{name}", status_code=204)
    def delete(name: str) -> Response:
        herder.delete(name)
        return Response(status_code=204)

    @app.get("/connectors/{name}/offsets")
    def get_offsets(name: str) -> dict[str, Any]:
        return offsets_api.get_offsets(herder, name)

    @app.patch("/connectors/{name}/offsets")
    async def alter_offsets(name: str, request: Request) -> Any:
        body = await _json_body(request)
        return await _threaded(request, offsets_api.alter_offsets, herder, name, body)

    @app.delete("/connectors/{name}/offsets")
    def reset_offsets(name: str) -> dict[str, str]:
        return offsets_api.reset_offsets(herder, name)

    @app.get("/connector-plugins/{plugin}/config")
    def plugin_config(plugin: str) -> list[dict[str, Any]]:
        try:
            cls = plugins.resolve(plugin).load()
        except plugins.UnknownPlugin as exc:
            raise RestError(404, str(exc)) from exc
        plugin_def = cls().config()
        return [plugin_def[name].definition(i) for i, name in enumerate(plugin_def)]

    @app.put("/connector-plugins/{plugin}/config/validate")
    async def validate(plugin: str, request: Request) -> Any:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise RestError(400, "Connector configuration must be a JSON object")
        given = body.get("connector.class")
        if given and not _same_plugin(str(given), plugin):
            raise RestError(400, f"Included connector type {given} does not match request "
                                 f"type {plugin}")
        try:
            plugins.resolve(plugin)
        except plugins.UnknownPlugin as exc:
            raise RestError(400, str(exc)) from exc
        return await _threaded(request, herder.validate, body, plugin)

    rest_admin.add_routes(app, herder)
    return app


def _same_plugin(a: str, b: str) -> bool:
    try:
        return plugins.resolve(a).class_name == plugins.resolve(b).class_name
    except plugins.UnknownPlugin:
        return a == b


async def _threaded(request: Request, func: Any, *args: Any) -> Any:
    """Run a blocking herder call off the event loop (async handlers need the raw body)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args)
