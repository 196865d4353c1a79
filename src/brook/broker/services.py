"""What request handlers may use: the broker's services, and nothing else of the broker.

Handlers never see ``BrokerNode`` (its listeners, logs on disk, start-up order): they see this
object, built once by the node. Each field is a seam: ``replica_manager`` is the only door to
partition data, ``controller`` (a ``ControllerChannel``) the only way to change metadata,
``image`` the metadata as last published here. An authorizer joins them when requests are
authorized. A handler test builds one from real parts without a broker or a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from brook.broker.auto_topic_creation import AutoTopicCreation
from brook.broker.config import BrokerConfig
from brook.broker.connection_limits import ConnectionLimits
from brook.broker.controller_channel import ControllerChannel
from brook.broker.fetch_session import FetchSessionCache
from brook.broker.producer_ids import ProducerIdManager
from brook.env import Clock
from brook.metadata.image import MetadataImage
from brook.protocol.messages.api_versions import ApiVersionsResponse
from brook.replication.replica_manager import ReplicaManager

if TYPE_CHECKING:  # the coordinator wiring imports the request context, which names this
    from brook.broker.group_coordinator_wiring import BrokerGroupCoordinator


@dataclass(slots=True, eq=False)
class BrokerServices:
    """Lifecycle: built by the broker before its first image is loaded; the broker's loader
    publisher keeps ``image`` on the last published image."""

    config: BrokerConfig
    cluster_id: str
    clock: Clock
    image: MetadataImage
    replica_manager: ReplicaManager
    controller: ControllerChannel
    fetch_sessions: FetchSessionCache
    producer_ids: ProducerIdManager
    connection_limits: ConnectionLimits
    group_coordinator: BrokerGroupCoordinator
    api_versions: list[ApiVersionsResponse.ApiVersion]
    """What ApiVersions advertises (built from the dispatch table)."""
    auto_topic_creation: AutoTopicCreation = field(default_factory=AutoTopicCreation)
    """The topics Metadata requests are creating in the background."""

    @property
    def node_id(self) -> int:
        return self.config.node_id
