"""Progress bars that stay readable in job logs.

Every pipeline job writes stderr to a log file (`logs/<rule>/...log`), where tqdm's ten redraws a second become
one line of thousands of carriage returns: a fully supervised K400 run would write megabytes of them. Off a
terminal the bar therefore redraws at most every `LOG_INTERVAL_S` seconds, still enough to see that a job is
alive and how far it has got; on a terminal it behaves as usual.

Off a terminal, `set_postfix` does not redraw either. tqdm counts a loop's steps in a local variable and
stores the count only when a timed redraw is due, so a redraw forced between them showed the count of the
last timed one: training logs read `0/31` while the loss in the postfix moved on. The postfix now appears
with the next timed redraw, next to the true count.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class _LogBar(tqdm):
    """A bar for log files: the postfix waits for the next timed redraw (see the module docstring)."""

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=False, **kwargs)


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """`tqdm(iterable, **kwargs)`, redrawn every `LOG_INTERVAL_S` seconds when its stream is not a terminal."""
    stream = kwargs.get("file") or sys.stderr
    if hasattr(stream, "isatty") and stream.isatty():
        return tqdm(iterable, **kwargs)
    kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    return _LogBar(iterable, **kwargs)
