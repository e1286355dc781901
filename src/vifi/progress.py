"""Progress bars that stay readable in job logs.

Every pipeline job writes stderr to a log file (`logs/<rule>/...log`), where tqdm's ten redraws a second become
one line of thousands of carriage returns: a fully supervised K400 run would write megabytes of them. Off a
terminal the bar therefore redraws at most every `LOG_INTERVAL_S` seconds, still enough to see that a job is
alive and how fast it goes; on a terminal it behaves as usual.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """`tqdm(iterable, **kwargs)`, redrawn every `LOG_INTERVAL_S` seconds when its stream is not a terminal."""
    stream = kwargs.get("file") or sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, **kwargs)
