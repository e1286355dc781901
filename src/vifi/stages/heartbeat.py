"""`python -m vifi.stages.heartbeat [--record PATH]`: exit 3, naming it, while a controller of this directory's
workflow is alive on any host; exit 0 when none is (no record, or its controller stopped beating); exit 1 when
the record cannot be read. A distinct code for "alive", so a caller never takes a failed check for one.

`scripts/slurm-restart.sh` runs it before it unlocks. Why a heartbeat and how it is read: `vifi.heartbeat`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from vifi.heartbeat import RECORD, alive, read

ALIVE = 3


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vifi.stages.heartbeat",
        description="Exit 3 while the controller recorded for this directory's workflow is alive on any host.",
    )
    p.add_argument("--record", type=Path, default=RECORD, help=f"the controller's record (default {RECORD})")
    opts = p.parse_args(argv)
    try:
        recorded = read(opts.record)
        if recorded is not None:
            print(f"heartbeat: {opts.record} names {recorded}; checking that it still beats", file=sys.stderr)
        found = alive(opts.record)
    except ValueError as err:
        print(f"heartbeat: {err}", file=sys.stderr)
        return 1
    if found is None:
        return 0
    print(f"heartbeat: the controller in {opts.record} is alive ({found}); stop it first", file=sys.stderr)
    return ALIVE


if __name__ == "__main__":
    sys.exit(main())
