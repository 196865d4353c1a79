"""The controller: validates cluster changes and turns them into metadata records.

Only the controller writes the metadata log. Each operation validates against the current
image, emits records, waits for them to commit, then replays them; readers see the change
through the published image (Kafka's QuorumController / *ControlManager split).
"""

from brook.metadata.controller.quorum_controller import QuorumController

__all__ = ["QuorumController"]
