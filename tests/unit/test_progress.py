"""Progress bars redraw rarely in job logs and as usual on a terminal."""

from __future__ import annotations

import io

from vifi.progress import LOG_INTERVAL_S, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


STEPS = 200


def redraws(stream: io.StringIO) -> int:
    """Carriage returns written while iterating, with a clock that advances 1 s per step."""
    bar = progress_bar(range(STEPS), file=stream, miniters=1, desc="x")
    clock = iter(range(10_000))
    bar._time = lambda: float(next(clock))  # each step one second later, so only mininterval limits redraws
    bar.start_t = bar.last_print_t = bar._time()
    for _ in bar:
        pass
    return stream.getvalue().count("\r")


def test_a_log_file_gets_one_redraw_per_interval():
    log = io.StringIO()
    assert progress_bar(range(3), file=log).mininterval == LOG_INTERVAL_S
    assert redraws(log) <= STEPS / LOG_INTERVAL_S + 4  # the intervals, plus the first, last and closing draws


def test_a_terminal_redraws_as_usual():
    assert redraws(Terminal()) >= STEPS
