"""``brook connectors``: manage connectors through a worker's Kafka Connect REST API.

    brook connectors [--url http://localhost:8083] list
    brook connectors create NAME --config FILE     (.properties or JSON: a map or {"name","config"})
    brook connectors describe|status|pause|resume|delete NAME
    brook connectors restart NAME [--include-tasks] [--only-failed]

It speaks only HTTP, so it works against any Kafka Connect worker, not just brook's. A worker
behind basic authentication takes ``--user`` (the password from ``--password``, or from
``BROOK_CONNECT_PASSWORD`` so that it stays out of the process list); an ``https://`` URL is
verified against the system's CAs or ``--ca-file``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from brook.cli.properties import load_properties


class ConnectorsError(Exception):
    pass


def read_config(path: str) -> tuple[str | None, dict[str, str]]:
    """A connector config file: JSON (``{"name","config"}`` or a flat map) or ``.properties``."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        if isinstance(doc.get("config"), dict):
            return doc.get("name"), {str(k): str(v) for k, v in doc["config"].items()}
        return doc.get("name"), {str(k): str(v) for k, v in doc.items()}
    props = load_properties(path)
    return props.get("name"), props


def _call(url: str, method: str, path: str, body: Any = None, user: str | None = None,
         password: str | None = None, ca_file: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                 headers=headers)
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=60, context=context) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = json.loads(raw)["message"]
        except (ValueError, KeyError, TypeError):
            message = raw.decode(errors="replace") or str(exc)
        raise ConnectorsError(f"{exc.code}: {message}") from None
    except urllib.error.URLError as exc:
        raise ConnectorsError(f"cannot reach {url}: {exc.reason}") from None
    return json.loads(raw) if raw else None


_DEFAULT_URL = "http://localhost:8083"


def _parser() -> argparse.ArgumentParser:
    # --url is accepted before or after the action, as users type it both ways.
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument("--url", default=argparse.SUPPRESS, help=f"REST URL (default {_DEFAULT_URL})")
    url.add_argument("--user", default=argparse.SUPPRESS, help="basic authentication user")
    url.add_argument("--password", default=argparse.SUPPRESS,
                     help="basic authentication password (default: $BROOK_CONNECT_PASSWORD)")
    url.add_argument("--ca-file", default=argparse.SUPPRESS,
                     help="PEM CA certificates that verify an https:// worker")
    p = argparse.ArgumentParser(prog="brook connectors", description=__doc__.split("\n\n")[0],
                                parents=[url])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[url])
    create = sub.add_parser("create", parents=[url])
    create.add_argument("config_file", nargs="?", help=".properties or JSON connector config")
    create.add_argument("--config", help="same as the positional config file")
    create.add_argument("--name", help="connector name (default: 'name' in the file)")
    for name in ("describe", "status", "pause", "resume", "delete"):
        sub.add_parser(name, parents=[url]).add_argument("name")
    restart = sub.add_parser("restart", parents=[url])
    restart.add_argument("name")
    restart.add_argument("--include-tasks", action="store_true")
    restart.add_argument("--only-failed", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    url, cmd = getattr(args, "url", _DEFAULT_URL), args.command
    user = getattr(args, "user", None)
    secret = getattr(args, "password", None) or os.environ.get("BROOK_CONNECT_PASSWORD")
    ca_file = getattr(args, "ca_file", None)

    def call(url: str, method: str, path: str, body: Any = None) -> Any:
        return _call(url, method, path, body, user, secret, ca_file)

    def quoted() -> str:
        return urllib.parse.quote(args.name, safe="")

    try:
        if cmd == "list":
            result: Any = call(url, "GET", "/connectors")
        elif cmd == "create":
            path = args.config_file or args.config
            if not path:
                raise ConnectorsError("give a connector config file (.properties or JSON)")
            file_name, config = read_config(path)
            name = args.name or file_name
            if not name:
                raise ConnectorsError("give the connector a name (argument or 'name' in the file)")
            result = call(url, "POST", "/connectors", {"name": name, "config": config})
        elif cmd == "describe":
            result = call(url, "GET", f"/connectors/{quoted()}")
        elif cmd == "status":
            result = call(url, "GET", f"/connectors/{quoted()}/status")
        elif cmd in ("pause", "resume"):
            result = call(url, "PUT", f"/connectors/{quoted()}/{cmd}")
        elif cmd == "delete":
            result = call(url, "DELETE", f"/connectors/{quoted()}")
        else:
            query = (f"?includeTasks={str(args.include_tasks).lower()}"
                     f"&onlyFailed={str(args.only_failed).lower()}")
            result = call(url, "POST", f"/connectors/{quoted()}/restart{query}")
    except (ConnectorsError, OSError, ValueError) as exc:
        sys.stderr.write(f"brook connectors: error: {exc}\n")
        return 1
    if result is not None:
        print(json.dumps(result, indent=2))
    return 0
