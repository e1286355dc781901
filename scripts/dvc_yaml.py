"""Write the generated parts of dvc.yaml: each stage's code dependencies and params, and the `plots:` section.

All follow from the workflow, so none is kept by hand:

- a DVC stage runs a Snakemake target; its code dependencies are the package files its jobs declare (the import
  closure of each rule's stage, `vifi.codedeps`), minus the jobs of the stages before it. Hand-kept directory
  lists drifted: `prepare` missed the modules every stage imports, `report` the model code that `embed` runs;
- its params are the params.yaml keys whose change changes one of its jobs (`dvc_params.py`);
- DVC takes plot files by name, and the runs are whatever params.yaml's grid makes: per protocol one plot of the
  loss and one of the learning rate per step, a line per run, and the few-shot aggregate's top-1 against K, a
  line per method (template `.dvc/plots/by_method.json`), for `dvc plots show` and `dvc plots diff <exp>`.

    python scripts/dvc_yaml.py          # rewrite them (make dvc-yaml)
    python scripts/dvc_yaml.py --check  # exit 1 if dvc.yaml differs from the workflow
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml
from dvc_params import stage_params, targets
from workflow_jobs import baseline

ROOT = Path(__file__).resolve().parents[1]
MARKER = (
    "# Plots: written by scripts/dvc_yaml.py from the grid (make dvc-yaml); edit the grid, not this list.\n"
)
PARAMS = (
    "    # Params: written by scripts/dvc_yaml.py, the keys whose change changes its jobs (make dvc-yaml).\n"
)
CODE = "      # Code: written by scripts/dvc_yaml.py, what the stage's jobs import and read (make dvc-yaml).\n"
FEWSHOT = "results/aggregates/fewshot.csv"


def stage_code(stages: dict, root: Path = ROOT) -> dict[str, list[str]]:
    """Per stage, the package files its own jobs read (jobs of earlier stages excluded)."""
    done: set[tuple] = set()
    code = {}
    for name, target in targets(stages).items():
        own = {key: job for key, job in baseline(target, root).items() if key not in done}
        done |= own.keys()
        code[name] = sorted({p for job in own.values() for p in job.inputs if p.startswith("src/")})
    return code


def train_logs(root: Path = ROOT) -> dict[str, list[str]]:
    """Every run's training log in the grid, by protocol."""
    logs: dict[str, list[str]] = {}
    for _, outputs in baseline(("runs_all",), root):
        for path in outputs:
            if path.endswith("/train_log.csv"):
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


def with_code(text: str, code: dict[str, list[str]]) -> str:
    """dvc.yaml with each stage's `src/` dependencies replaced by `code`, after the other dependencies."""
    lines, out, stage, in_deps = text.splitlines(keepends=True), [], None, False
    for line in lines:
        if match := re.match(r"  (\w+):\n", line):
            stage = match.group(1)
        if in_deps and not line.startswith("      "):
            out += [CODE, *(f"      - {path}\n" for path in code[stage])]
            in_deps = False
        if line == "    deps:\n":
            in_deps = True
        if in_deps and (line == CODE or line.startswith("      - src/")):
            continue
        out.append(line)
    return "".join(out)


def with_params(text: str, params: dict[str, list[str]]) -> str:
    """dvc.yaml with each stage's `params:` list replaced by `params`, under the PARAMS comment."""
    out, stage, in_params = [], None, False
    for line in text.splitlines(keepends=True):
        if match := re.match(r"  (\w+):\n", line):
            stage = match.group(1)
        if in_params and line.startswith("      - "):
            continue
        in_params = line == "    params:\n"
        if line == PARAMS:
            continue
        if in_params:
            out += [PARAMS, line, *(f"      - {key}\n" for key in params[stage])]
            continue
        out.append(line)
    return "".join(out)


def render(text: str, stages: dict, root: Path = ROOT) -> str:
    """dvc.yaml with every generated part replaced (the plots are the file's last section)."""
    head = re.split(r"^(?:# Plots:.*\n)?plots:", text, maxsplit=1, flags=re.M)[0]
    head = with_params(with_code(head, stage_code(stages, root)), stage_params(targets(stages), root))
    head = head.rstrip("\n") + "\n"
    return head + MARKER + yaml.safe_dump({"plots": plots(train_logs(root))}, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml differs from the workflow")
    args = parser.parse_args(argv)
    path = ROOT / "dvc.yaml"
    current = path.read_text(encoding="utf-8")
    wanted = render(current, yaml.safe_load(current)["stages"])
    if args.check:
        if current != wanted:
            print("dvc.yaml differs from the workflow; run `make dvc-yaml`", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
