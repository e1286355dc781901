"""Plumbing shared by the benchmark scripts: flags, per-core setup, interleaved timing, the JSON they write.

The machine running a benchmark may be busy with other work, so absolute rates move from run to run. Each
script therefore times the things it compares in turn (a, b, b, a, ...) in one run and reports their ratio,
which the load shifts much less. Every rate is per core: one torch thread, data loading in the main process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from vifi.io import write_json

RESULTS = Path(__file__).resolve().parents[1] / "results" / "benchmarks"


def build_parser(description: str) -> argparse.ArgumentParser:
    """The flags every benchmark takes: `--quick` (a smoke run of seconds) and `--out` (the JSON folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="shrink every size: a smoke run of ~20 s")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for <name>.json (%(default)s)")
    return parser


def parse_args(description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    return build_parser(description).parse_args(argv)


def per_core() -> None:
    """One intra-op thread, so that each measured rate is what one core (one loader worker) delivers."""
    torch.set_num_threads(1)


def elapsed(fn: Callable[..., object], *args: object) -> float:
    """Seconds one call `fn(*args)` takes."""
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def in_turn(names: Sequence[str], repeats: int) -> Iterator[str]:
    """`names` `repeats` times over, every other round reversed (a, b, b, a, ...), so that a load that rises
    or falls during the run favours none of them."""
    for round_ in range(repeats):
        yield from (names if round_ % 2 == 0 else reversed(names))


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, the calls made `in_turn`."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name in in_turn(list(fns), repeats):
        times[name].append(elapsed(fns[name]))
    return {name: statistics.median(ts) for name, ts in times.items()}


def machine() -> dict[str, Any]:
    """What the figures were measured on, with the load at the end of the run (other work shares the cores)."""
    names = [line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")]
    return {
        "cpu": names[0] if names else platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": os.getloadavg()[0],
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def write_results(out: Path, name: str, ratios: dict[str, float], figures: dict[str, Any]) -> None:
    """Write `<out>/<name>.json` atomically: the side-by-side `ratios`, the raw `figures` and the machine."""
    path = out / f"{name}.json"
    write_json(path, {"ratios": ratios, "figures": figures, "machine": machine()})
    print(f"\nwrote {path}")
