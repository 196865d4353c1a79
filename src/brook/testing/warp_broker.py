"""``python -m brook.testing.warp_broker --clock-file F [brook broker flags]``: a test broker.

The same broker as ``brook broker`` (same flags, construction and ready line), except that its
one clock is a :class:`~brook.testing.clock.WarpClock` driven by the control file ``F``, which
a test rewrites to move the broker's time forward (see ``brook.testing.process``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brook.broker import main as broker_main
from brook.testing.clock import WarpClock


def main(argv: list[str] | None = None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--clock-file", required=True, type=Path)
    known, rest = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    clock = WarpClock(known.clock_file)
    return broker_main.main(rest, prog="python -m brook.testing.warp_broker", clock=clock)


if __name__ == "__main__":
    raise SystemExit(main())
