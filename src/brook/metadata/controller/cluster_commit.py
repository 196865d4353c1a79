"""How the active controller of a cluster commits: fenced appends to the shared log.

The local single-node controller appends to its own log and replays what it wrote. In a
cluster the log is shared (:mod:`brook.raft.etcd_log`) and every broker, the controller's own
included, applies it through its :class:`~brook.metadata.follower.MetadataFollower`; so the
controller appends at the offset after everything it has applied, with its leadership token,
and answers once its follower has applied the records. An append refused for leadership, or
whose outcome stays unknown, ends this controller's term: it answers NOT_CONTROLLER, and the
broker steps down and campaigns again from the log as it stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from brook.metadata.controller.replication_control import ControllerError
from brook.metadata.follower import MetadataFollower
from brook.protocol.errors import ErrorCode
from brook.raft.fenced import FencedMetadataLog, Leadership, MetadataLogError, NotControllerError

__all__ = ["ClusterCommit", "not_controller"]

log = logging.getLogger(__name__)


def not_controller(detail: str = "This node is not the active controller.") -> ControllerError:
    return ControllerError(ErrorCode.NOT_CONTROLLER, detail)


class ClusterCommit:
    """One controller term: valid until ``ended`` (leadership lost or an append failed)."""

    def __init__(self, log_: FencedMetadataLog, follower: MetadataFollower,
                 leadership: Leadership, lost: Callable[[], bool]) -> None:
        self._log = log_
        self._follower = follower
        self.leadership = leadership
        self._lost = lost
        self.ended = False

    def active(self) -> bool:
        return not self.ended and not self._lost()

    async def commit(self, values: Sequence[bytes]) -> int:
        if not self.active():
            raise not_controller()
        expected = self._follower.applied_offset + 1
        try:
            last = await self._log.append(self.leadership, values, expected)
        except NotControllerError as exc:
            self.ended = True
            raise not_controller(str(exc)) from exc
        except MetadataLogError as exc:
            self.ended = True
            log.warning("controller term %d ends: %s", self.leadership.epoch, exc)
            raise not_controller(f"The controller stepped down: {exc}") from exc
        try:
            await self._follower.wait_applied(last)
        except MetadataLogError as exc:  # committed, but this broker's image cannot follow
            self.ended = True
            raise not_controller(f"The controller cannot apply the metadata log: {exc}") from exc
        return last
