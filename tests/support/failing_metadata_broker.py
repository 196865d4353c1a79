"""``brook broker`` whose metadata-log fsync fails (EIO) while a trigger file exists.

Usage: ``python failing_metadata_broker.py <trigger path> <brook broker arguments...>``.
Only the metadata log's flush is affected; everything else is the real broker.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

from brook.broker.main import main
from brook.raft import local

_TRIGGER = Path(sys.argv[1])
_original_init = local.LocalRaftClient.__init__


def _init(self: local.LocalRaftClient, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    flush = self.log.flush

    def failing_flush(*fargs: Any, **fkwargs: Any) -> None:
        if _TRIGGER.exists():
            raise OSError(errno.EIO, "Input/output error (injected)")
        flush(*fargs, **fkwargs)

    self.log.flush = failing_flush  # type: ignore[method-assign]


local.LocalRaftClient.__init__ = _init  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[2:]))
