"""Requests a worker forwards to another worker's REST API (a task restart to its owner).

The other worker's address is its worker id from the group's member list, and any Kafka client
allowed to join the group can add to that list; the caller's ``Authorization`` header goes
along (as Kafka forwards the user's headers). So an id is used only when it is a plain
``host:port``, and a forwarded request never follows a redirect: a peer cannot send the
caller's credentials, or the worker itself, on to some other address.
"""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request
from typing import Any

from brook.connect.runtime.validation import RestError

REBALANCING = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
_PEER = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
                   r":(?:[1-9][0-9]{0,4})")


def peer_url(scheme: str, worker_id: str, path: str) -> str:
    """The URL of ``path`` on the worker ``worker_id`` (``host:port``), for a forwarded request.

    Worker ids come from the group's member list, which any Kafka client allowed to join the
    group can add to; so an id is used only when it is a plain ``host:port``, never one that
    carries credentials, a path or a query into the URL (``evil@host``, ``host/x?``).
    """
    if not _PEER.fullmatch(worker_id) or int(worker_id.rsplit(":", 1)[1]) > 65535:
        raise RestError(409, f"{REBALANCING}: the task's worker id {worker_id[:100]!r} is not "
                             "a host:port")
    return f"{scheme}://{worker_id}{path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, f"refusing to follow a redirect to "
                                     f"{newurl[:200]}", headers, fp)


def forward_post(url: str, authorization: str | None, context: ssl.SSLContext | None,
                 timeout_s: float = 30) -> None:
    """POST to a peer worker; any failure (a redirect included) is a 409, as in Kafka."""
    headers = {"Authorization": authorization} if authorization else {}
    request = urllib.request.Request(url, method="POST", headers=headers)
    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=timeout_s):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise RestError(409, f"{REBALANCING}: {exc}") from exc
