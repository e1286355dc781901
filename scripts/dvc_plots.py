"""Write dvc.yaml's `plots:` from the configured grid: `dvc plots show` and `dvc plots diff <exp>` then draw
every run's training curves and the few-shot accuracy against K.

DVC takes plot files by name, not by pattern, and the runs are whatever params.yaml's grid makes: the list of
training logs is read from a dry run of the workflow rather than kept by hand. Per protocol, one plot of the
loss and one of the learning rate per step, a line per run; the few-shot aggregate's top-1 against K, a line per
method (template `.dvc/plots/by_method.json`).

    python scripts/dvc_plots.py          # rewrite the section (make dvc-plots)
    python scripts/dvc_plots.py --check  # exit 1 if dvc.yaml's section is not the grid's
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MARKER = (
    "# Plots: written by scripts/dvc_plots.py from the grid (make dvc-plots); edit the grid, not this list.\n"
)
FEWSHOT = "results/aggregates/fewshot.csv"


def train_logs(root: Path = ROOT) -> dict[str, list[str]]:
    """Every run's training log in the grid, by protocol, in DAG order."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-F", "runs_all"], cwd=root, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"snakemake -n runs_all failed:\n{out.stderr}")
    logs: dict[str, list[str]] = {}
    for path in re.findall(r"^    output: .*?(results/runs/\S+/train_log\.csv)", out.stdout, re.M):
        logs.setdefault(path.split("/")[2], []).append(path)
    return {protocol: sorted(paths) for protocol, paths in sorted(logs.items())}


def plots(logs: dict[str, list[str]]) -> list[dict]:
    """The plot definitions: loss and LR per protocol, then few-shot top-1 against K."""
    found = []
    for protocol, paths in logs.items():
        for column, title in (("loss", "training loss"), ("lr", "learning rate")):
            found.append(
                {f"{protocol} {title}": {"x": "step", "y": {p: column for p in paths}, "x_label": "step"}}
            )
    found.append(
        {"few-shot top-1 vs K": {"template": "by_method", "x": "shots", "y": {FEWSHOT: "top1"}, "x_label": "K"}}
    )
    return found


def render(dvc_yaml: str, logs: dict[str, list[str]]) -> str:
    """dvc.yaml with its generated section (everything after `MARKER`) replaced."""
    head = dvc_yaml.split(MARKER)[0].rstrip("\n") + "\n"
    return head + MARKER + yaml.safe_dump({"plots": plots(logs)}, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml's plots are not the grid's")
    args = parser.parse_args(argv)
    path = ROOT / "dvc.yaml"
    current = path.read_text(encoding="utf-8")
    wanted = render(current, train_logs())
    if args.check:
        if current != wanted:
            print("dvc.yaml: plots differ from the grid; run `make dvc-plots`", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
