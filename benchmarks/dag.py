"""DAG overhead on the full paper-mode grid: `snakemake -n` from nothing, and a no-op rerun when all is done.

Researchers narrow, extend and re-run the grid many times a day; every one of those commands pays Snakemake's
DAG build first. Both figures are measured on a copy of the workflow in a scratch directory, so no data is
needed: the dry run plans every job of `workflow/configs/paper.yaml`; for the no-op rerun every output the
plan names is created empty (directory outputs as folders), `snakemake --touch` orders their times as the DAG
does, and the timed `snakemake -n` must then find nothing to do. Each is timed `--repeat` times and the best
is reported, as machine noise only ever adds. The target is 5 s each; the printed ratio is seconds / target.

Then how the dry run grows with the grid, timed in turn from the same scratch copy: the demo grid
(params.yaml), the paper grid, and a wider one, the paper grid with few-shot over 4 datasets and all 6 methods
(`WIDE`: 4 datasets x 3 seeds x 6 methods in base-to-novel, 4 datasets x 4 K x 6 methods in few-shot). It
prints jobs and seconds per grid, the cost per added job from the demo to the wide grid and the fixed cost
(workflow parsing, imports) that it implies.

    .venv/bin/python benchmarks/dag.py [--repeat 3] [--quick] [--out DIR]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import build_parser, in_turn, write_results

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0
DIRECTORY_RULES = frozenset({"synthesize", "download"})  # rules whose output is a directory()
PAPER = ["--configfile", "workflow/configs/paper.yaml"]
WIDE_CONFIG = "wide.yaml"
WIDE_METHODS = ["vanilla", "image", "text", "vifi", "prompt", "evl"]
WIDE = {"fewshot": {"datasets": ["hmdb51", "ucf101", "ssv2", "k600"], "shots": [2, 4, 8, 16]}}
GRIDS = {"demo": [], "paper": PAPER, "wide": [*PAPER, WIDE_CONFIG]}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the venv's snakemake in `workdir`; raise with its output on failure."""
    cmd = [str(Path(sys.executable).with_name("snakemake")), *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def best_time(workdir: Path, repeat: int, *args: str) -> tuple[float, str]:
    """The fastest of `repeat` runs, in seconds, and the output of the last."""
    times, out = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = snakemake(workdir, *args)
        times.append(time.perf_counter() - start)
        out = proc.stdout + proc.stderr
    return min(times), out


def job_count(output: str) -> int:
    match = re.search(r"^total\s+(\d+)$", output, re.M)
    if not match:
        raise RuntimeError(f"no job count in the dry run's output:\n{output[-2000:]}")
    return int(match.group(1))


def create_outputs(workdir: Path) -> int:
    """Create every planned output (empty), as a finished run would leave them; return how many."""
    summary = snakemake(workdir, "--summary", *PAPER).stdout
    count = 0
    for line in summary.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        path, rule = workdir / fields[0], fields[2]
        if rule in DIRECTORY_RULES:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        count += 1
    return count


def scratch_copy(dest: Path) -> Path:
    """The workflow, package, paper sources and params, without any data or results."""
    for name in ("workflow", "src", "paper"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "params.yaml", dest / "params.yaml")
    return dest


def measure(repeat: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="vifi-dag-") as tmp:
        workdir = scratch_copy(Path(tmp))
        dry_s, out = best_time(workdir, repeat, "-n", *PAPER, "--quiet", "rules")
        jobs = job_count(out)
        files = create_outputs(workdir)
        snakemake(workdir, "--touch", "--cores", "1", *PAPER)
        noop_s, out = best_time(workdir, repeat, "-n", *PAPER)
        if "Nothing to be done" not in out:
            raise RuntimeError(f"the no-op rerun planned jobs:\n{out[-3000:]}")
    return {"jobs": jobs, "outputs": files, "dry_run_s": dry_s, "noop_rerun_s": noop_s, "target_s": TARGET_S}


def write_wide(workdir: Path) -> None:
    """The wide grid's overlay on the paper config: few-shot over 4 datasets and every method."""
    paper = yaml.safe_load((workdir / PAPER[1]).read_text())
    fewshot = {**paper["fewshot"], **WIDE["fewshot"], "methods": WIDE_METHODS}
    (workdir / WIDE_CONFIG).write_text(yaml.safe_dump({"fewshot": fewshot}))


def grid_growth(repeat: int) -> dict[str, dict[str, float]]:
    """Jobs and best dry-run seconds of each grid in `GRIDS`, timed in turn in one scratch copy."""
    with tempfile.TemporaryDirectory(prefix="vifi-dag-") as tmp:
        workdir = scratch_copy(Path(tmp))
        write_wide(workdir)
        times: dict[str, list[float]] = {name: [] for name in GRIDS}
        jobs: dict[str, int] = {}
        for name in in_turn(list(GRIDS), repeat):
            start = time.perf_counter()
            out = snakemake(workdir, "-n", *GRIDS[name], "--quiet", "rules")
            times[name].append(time.perf_counter() - start)
            jobs[name] = job_count(out.stdout + out.stderr)
    return {name: {"jobs": jobs[name], "dry_run_s": min(times[name])} for name in GRIDS}


def report_growth(growth: dict[str, dict[str, float]]) -> dict[str, float]:
    """Print each grid's dry run and return the ratios to the demo grid's."""
    demo, wide = growth["demo"], growth["wide"]
    print("\nsnakemake -n by grid (best of the runs, in turn):")
    ratios = {}
    for name, row in growth.items():
        print(
            f"  {name:>6}: {row['jobs']:>6} jobs {row['dry_run_s']:6.2f} s; x demo: "
            f"{row['jobs'] / demo['jobs']:.1f} jobs, {row['dry_run_s'] / demo['dry_run_s']:.2f} time"
        )
        if name != "demo":
            ratios[f"{name}_dry_run_over_demo"] = row["dry_run_s"] / demo["dry_run_s"]
    per_job = (wide["dry_run_s"] - demo["dry_run_s"]) / (wide["jobs"] - demo["jobs"])
    fixed = demo["dry_run_s"] - per_job * demo["jobs"]
    print(f"  {1e3 * per_job:.1f} ms per added job, over a fixed {fixed:.1f} s")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is reported")
    args = parser.parse_args(argv)
    result = measure(1 if args.quick else args.repeat)
    ratios = {"dry_run_over_target": result["dry_run_s"] / TARGET_S}
    ratios["noop_rerun_over_target"] = result["noop_rerun_s"] / TARGET_S
    print(f"paper grid: {result['jobs']} jobs, {result['outputs']} outputs; target {TARGET_S:.0f} s each")
    for name, key in (("snakemake -n from nothing", "dry_run"), ("no-op rerun", "noop_rerun")):
        print(f"{name:26s} {result[key + '_s']:6.2f} s = {ratios[key + '_over_target']:.2f} x target")
    growth = grid_growth(1 if args.quick else args.repeat)
    ratios |= report_growth(growth)
    write_results(args.out, "dag", ratios, {**result, "grids": growth})
    return 0


if __name__ == "__main__":
    sys.exit(main())
