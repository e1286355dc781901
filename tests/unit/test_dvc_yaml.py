"""dvc.yaml's generated parts follow the workflow: each stage depends on the code its jobs import and read, and
on the params.yaml keys whose change changes its jobs; every run's training curves and the few-shot accuracy
against K are DVC plots that `dvc plots show` draws."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.conftest import ROOT, run

sys.path.insert(0, str(ROOT / "scripts"))
import dvc_params

LOG = "epoch,step,loss,lr\n0,0,2.5,0.0\n0,1,2.0,0.0005\n1,2,1.5,0.00025\n"
FEWSHOT = "dataset,method,shots,top1,top5,runs\nucf101,vifi,2,29.2,61.0,a\nucf101,vifi,8,25.0,70.5,b\n"
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_dvc_yaml_is_what_the_workflow_generates() -> None:
    """The stages' code and the plots, regenerated from dry runs, are what dvc.yaml holds."""
    proc = subprocess.run([sys.executable, "scripts/dvc_yaml.py", "--check"], cwd=ROOT, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()


def test_each_stage_depends_on_the_modules_its_jobs_import() -> None:
    """What the hand-kept lists missed: the modules every stage imports, evaluation's per-video writer, the
    model code behind the report's embeddings."""
    deps = {name: set(stage["deps"]) for name, stage in DVC["stages"].items()}
    shared = {"src/vifi/__main__.py", "src/vifi/io.py", "src/vifi/progress.py"}
    assert all(shared <= files for files in deps.values())
    assert "src/vifi/report/predictions.py" in deps["experiments"]
    assert {"src/vifi/engine/embed.py", "src/vifi/models/vificlip.py"} <= deps["report"]
    assert "src/vifi/engine/train.py" not in deps["prepare"] | deps["report"]


def test_every_training_log_of_the_grid_is_plotted() -> None:
    """Each fine-tuning job of a forced dry run has its loss and LR plotted; the few-shot plot comes on top."""
    dry = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-F"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    trained = set(re.findall(r"(results/runs/\S+/train_log\.csv)", dry.stdout))
    plots = [next(iter(p.items())) for p in DVC["plots"]]
    logs = {f for _, spec in plots for f in spec["y"] if f.endswith("train_log.csv")}
    assert len(trained) > 20 and logs == trained
    assert sum(len(spec["y"]) for _, spec in plots) == 2 * len(trained) + 1


def test_dvc_plots_show_draws_each_plot(tmp_path: Path) -> None:
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    run(["dvc", "init", "--no-scm", "-q"], cwd=tmp_path)
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    plots = dict(next(iter(p.items())) for p in DVC["plots"])
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


def _has_key(params: dict, dotted: str) -> bool:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_stage_params_name_keys_of_params_yaml_and_cover_every_section() -> None:
    """A renamed key leaves DVC tracking nothing (`fewshot.seed` once `fewshot.seeds` replaced it), and a new
    section no stage lists would change results without `dvc repro` noticing."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    tracked = {key: name for name, stage in DVC["stages"].items() for key in stage.get("params", [])}
    assert [key for key in tracked if not _has_key(params, key)] == []
    covered = {key.split(".")[0] for key in tracked}
    assert sorted(set(params) - covered) == []


def _leaves(node: Any, key: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict) and node:
        for child, value in node.items():
            yield from _leaves(value, (*key, child))
    else:
        yield key, node


def test_every_key_gets_a_different_value_the_schema_accepts(tmp_path: Path) -> None:
    """The derivation is only as good as its changes: each key (each leaf alone, and each section as a whole)
    must really change and stay valid, or a dry run would fail or compare a config with itself."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    schema = yaml.safe_load((ROOT / "workflow/schemas/params.schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for key, value in [((section,), value) for section, value in params.items()] + list(_leaves(params)):
        new = dvc_params.perturb(copy.deepcopy(value), key, schema, tmp_path)
        dotted = ".".join(key)
        assert (new == value) == (dotted in dvc_params.FIXED), dotted
        changed = copy.deepcopy(params)
        node = changed
        for part in key[:-1]:
            node = node[part]
        node[key[-1]] = new
        errors = [e.message for e in validator.iter_errors(changed)]
        assert errors == [], (dotted, new, errors)


def test_the_derived_params_hold_what_hand_lists_missed() -> None:
    """Split lists are drawn with the zero-shot and few-shot keys and no prepare job reads a fully supervised
    setting; the report's audit table follows the audit policy, and no report job reads a recipe or the prompt
    counts (their effect reaches it through results/runs)."""
    params = {name: set(stage["params"]) for name, stage in DVC["stages"].items()}
    drawn_with = {"zeroshot.classes_per_split", "fewshot.seeds", "fewshot.shots", "base2novel.split"}
    assert drawn_with <= params["prepare"]
    assert "base2novel.methods" not in params["prepare"] and "fullsup" not in params["prepare"]
    assert "audit.policy" in params["report"] and not {"recipes", "prompt"} & params["report"]
