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


def test_a_log_shows_how_far_the_loop_has_got_next_to_its_postfix():
    """Training sets the loss as postfix every step; each line of the log that shows a loss shows the step count
    reached by then, never the `0/31` of the first draw."""
    log = io.StringIO()
    bar = progress_bar(range(31), file=log, desc="vifi epoch 1/1")
    clock = iter(range(10_000))
    bar._time = lambda: float(next(clock)) * 7  # 7 s per step: a timed redraw every fifth step
    bar.start_t = bar.last_print_t = bar._time()
    for step in bar:
        bar.set_postfix(loss=f"{step:.3f}")
    bar.close()
    frames = [f for f in log.getvalue().split("\r") if "loss=" in f]
    counts = [int(f.split("|")[-1].split("/")[0]) for f in frames]
    losses = [float(f.split("loss=")[1].split("]")[0]) for f in frames]
    assert len(frames) >= 4 and counts[-1] == 31
    assert losses == [count - 1 for count in counts]  # the loss of the last step counted
