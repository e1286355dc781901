"""dvc.yaml declares every run's training curves and the few-shot accuracy against K as DVC plots, generated
from the grid, and `dvc plots show` draws them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT, run

LOG = "epoch,step,loss,lr\n0,0,2.5,0.0\n0,1,2.0,0.0005\n1,2,1.5,0.00025\n"
FEWSHOT = "dataset,method,shots,top1,top5,runs\nucf101,vifi,2,29.2,61.0,a\nucf101,vifi,8,25.0,70.5,b\n"


def test_the_plots_section_is_the_grids() -> None:
    """Every training log the grid makes is plotted, once for the loss and once for the LR."""
    proc = subprocess.run([sys.executable, "scripts/dvc_plots.py", "--check"], cwd=ROOT, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    plots = [next(iter(p.items())) for p in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]]
    logs = {f for _, spec in plots for f in spec["y"] if f.endswith("train_log.csv")}
    assert len(logs) == 27  # the demo's fine-tuning runs (README)
    assert sum(len(spec["y"]) for _, spec in plots) == 2 * 27 + 1


def test_dvc_plots_show_draws_each_plot(tmp_path: Path) -> None:
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path)
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    plots = dict(next(iter(p.items())) for p in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    for spec in plots.values():
        for name in spec["y"]:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(LOG if name.endswith("train_log.csv") else FEWSHOT)
    shown = json.loads(run(["dvc", "plots", "show", "--json"], cwd=tmp_path).stdout)["data"]
    assert set(shown) == set(plots)
    for title, spec in plots.items():
        rows = shown[title][0]["content"]["data"]["values"]
        assert len(rows) == (2 if title.startswith("few-shot") else 3 * len(spec["y"])), title
    fewshot = shown["few-shot top-1 vs K"][0]["content"]
    assert fewshot["encoding"]["color"]["field"] == "method" and fewshot["encoding"]["x"]["field"] == "shots"
    assert [(r["shots"], r["top1"]) for r in fewshot["data"]["values"]] == [("2", "29.2"), ("8", "25.0")]
