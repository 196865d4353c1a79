"""The one broker process harness and the one ``free_port`` for tests.

Both live in :mod:`brook.testing.process`, which the kill loop uses too; here the harness runs
the product's own ``brook broker`` (no warp clock) from the repository root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from brook.testing.process import BrokerProcess, free_port

__all__ = ["REPO", "BrokerProcess", "free_port", "plain_broker"]

REPO = Path(__file__).resolve().parents[2]


def plain_broker(data_dir: Path, **options: Any) -> BrokerProcess:
    """A restartable ``brook broker`` child on a free loopback port (``options`` as for
    :class:`~brook.testing.process.BrokerProcess`: overrides, advertised_port, prefix...)."""
    options.setdefault("warp_clock", False)
    options.setdefault("cwd", REPO)
    return BrokerProcess(data_dir, **options)
