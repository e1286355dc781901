"""Wall time of the default main job (`snakemake --cores N` on the synthetic demo) from clean outputs, profiled.

The committed tree is cloned into a scratch directory (so nothing of the checkout's results is reused or
touched) and the whole default grid runs there, with the package imported from the clone. Every rule records
its wall and CPU seconds (`benchmark:` files under logs/benchmarks/), so the run's profile comes with it:
the per-rule totals printed here say where the time goes, and `import_s` estimates how much of it is only
Python start-up and imports (measured once, in the same run, as the time to import the training module).
The target is 10 minutes on 2 cores; the printed ratio is wall seconds / 600. The finished run is then held to
the sanity targets of a working miniature (`demo_sanity.py`); the exit status is 1 if any is missed.

    .venv/bin/python benchmarks/demo.py [--cores 2] [--keep DIR] [--out DIR]
    .venv/bin/python benchmarks/demo.py --profile-only DIR    # summarise a finished run's logs/benchmarks
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from demo_sanity import all_checks
from harness import RESULTS, write_results

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 600.0


def clone(dest: Path) -> Path:
    """A clone of the committed tree, with the shared reference folder beside it as in the checkout."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest / "main")], check=True)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (dest / "shared").symlink_to(shared)
    return dest / "main"


def clone_env(workdir: Path) -> dict[str, str]:
    """The venv's tools on PATH, and the clone's own package ahead of the installed one."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(workdir / "src")
    return env


def import_seconds(env: dict[str, str]) -> float:
    """Start-up plus imports of a training job, which every torch job pays before any work."""
    start = time.perf_counter()
    code = "import vifi.stages.train, vifi.stages.evaluate"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def profile(workdir: Path) -> pd.DataFrame:
    """Per-rule job count and summed wall/CPU seconds from the run's benchmark files, largest first."""
    rows = []
    for tsv in (workdir / "logs/benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(workdir / "logs/benchmarks").parts[0].removesuffix(".tsv")
        record = pd.read_csv(tsv, sep="\t").iloc[-1]
        rows.append({"rule": rule, "wall_s": float(record["s"]), "cpu_s": float(record["cpu_time"])})
    table = (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), cpu_s=("cpu_s", "sum"))
    )
    return table.sort_values("wall_s", ascending=False)


def run_demo(workdir: Path, cores: int) -> float:
    env = clone_env(workdir)
    start = time.perf_counter()
    cmd = ["snakemake", "--cores", str(cores)]
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"the demo failed after {seconds:.0f} s:\n{proc.stderr[-4000:]}")
    return seconds


def report(table: pd.DataFrame, result: dict) -> None:
    print(table.round(1).to_string())
    jobs = int(table["jobs"].sum())
    print(f"{jobs} jobs; summed job wall {table['wall_s'].sum():.0f} s, CPU {table['cpu_s'].sum():.0f} s")
    if "wall_s" in result:
        print(f"imports per torch job: {result['import_s']:.1f} s")
        ratio = result["wall_s"] / TARGET_S
        print(f"demo wall time: {result['wall_s']:.0f} s = {ratio:.2f} x the {TARGET_S:.0f} s target")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run in this (new) directory and keep it")
    parser.add_argument("--profile-only", type=Path, metavar="DIR", help="only summarise DIR's finished run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for demo.json (%(default)s)")
    args = parser.parse_args(argv)
    if args.profile_only:
        report(profile(args.profile_only), {})
        return 0
    with tempfile.TemporaryDirectory(prefix="vifi-demo-") as tmp:
        workdir = clone(args.keep or Path(tmp))
        wall = run_demo(workdir, args.cores)
        table = profile(workdir)
        result = {"cores": args.cores, "wall_s": wall, "target_s": TARGET_S}
        result["import_s"] = import_seconds(clone_env(workdir))
        checks = all_checks(workdir)
    result["rules"] = table.reset_index().to_dict(orient="records")
    result["sanity"] = [vars(check) for check in checks]
    report(table, result)
    for check in checks:
        print(check.line())
    missed = sum(not check.passed for check in checks)
    print(f"sanity: {len(checks) - missed} of {len(checks)} targets met")
    write_results(args.out, "demo", {"wall_over_target": wall / TARGET_S, "sanity_missed": missed}, result)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
