"""A new method and a new dataset are each one catalog entry (plus, for the method, one model module).

In a copy of the finished smoke repository, the test adds a method `toy` (its own model module: CLIP with
max-pooling over time instead of the mean) and a synthetic dataset `toyset`, and edits no other file of the
repository: the grid that runs them is an override file outside it, as an ablation would be. Then the toy
method trains and is evaluated, both show up in the base-to-novel table, and the FLOP counter counts the method.

The catalog files keep their dates and Snakemake reruns on changed files and changed input sets only
(`--rerun-triggers mtime input`), so that the new entries' jobs run, with the jobs whose inputs now include
the new module and what reads their outputs: staleness itself is test_staleness's subject, and rerunning the
data stages here would only cost time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import run

pytestmark = pytest.mark.integration

MODULE = '''"""A toy method for the catalog test: CLIP whose video feature is the maximum over frames."""

from vifi.models.vificlip import VideoCLIP


class MaxPoolCLIP(VideoCLIP):
    def encode_video(self, video):
        b, t = video.shape[:2]
        return self.clip.encode_image(video.flatten(0, 1)).view(b, t, -1).amax(dim=1)
'''
METHOD = {
    "name": "Toy max-pool CLIP",
    "model": "vifi.models.toy:MaxPoolCLIP",
    "trains": ["image", "text"],
    "template": "a video of a {}.",
}
DATASET = {"name": "Toy Set", "format": "ucf101", "folds": 3, "protocols": ["base2novel"]}
GRID = {
    "base2novel": {"datasets": ["ucf101", "toyset"], "methods": ["vanilla", "vifi", "toy"], "seeds": [1]},
    "synthetic": {
        "datasets": {
            "toyset": {
                "role": "downstream",
                "classes": 4,
                "train_per_class": [8, 8],
                "val_per_class": 4,
                "splits": 3,
            }
        }
    },
    "data": {"source": {"toyset": "synthetic"}},
    "train": {"epochs": 3},
}


def add_entry(path: Path, code: str, entry: dict) -> None:
    """Append one entry to a catalog file, keeping the file's date."""
    stat = path.stat()
    with path.open("a", encoding="utf-8") as fh:
        fh.write(yaml.safe_dump({code: entry}, sort_keys=False))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture(scope="module")
def extended(smoke_repo: Path, tmp_path_factory) -> dict:
    catalog = smoke_repo / "src/vifi/catalog"
    add_entry(catalog / "methods.yaml", "toy", METHOD)
    add_entry(catalog / "datasets.yaml", "toyset", DATASET)
    module = smoke_repo / "src/vifi/models/toy.py"
    module.write_text(MODULE, encoding="utf-8")
    old = (catalog / "methods.yaml").stat().st_mtime_ns
    os.utime(module, ns=(old, old))
    grid = tmp_path_factory.mktemp("grid") / "toy.yaml"
    grid.write_text(yaml.safe_dump(GRID), encoding="utf-8")
    common = ["--configfile", str(grid), "--rerun-triggers", "mtime", "input", "--cores", "2"]
    dry = run(["snakemake", "-n", *common], cwd=smoke_repo).stdout
    out = run(["snakemake", *common], cwd=smoke_repo, timeout=900).stdout
    changed = run(["git", "status", "--porcelain"], cwd=smoke_repo).stdout
    return {"repo": smoke_repo, "dry": dry, "out": out, "changed": changed}


def test_nothing_but_the_catalog_and_the_module_changed(extended: dict) -> None:
    code = [line for line in extended["changed"].splitlines() if " src/" in line or " workflow/" in line]
    assert sorted(code) == [" M src/vifi/catalog/datasets.yaml", " M src/vifi/catalog/methods.yaml",
                            "?? src/vifi/models/toy.py"]  # fmt: skip


def test_the_new_method_trains_and_is_evaluated(extended: dict) -> None:
    assert "results/runs/base2novel/ucf101/toy/seed1/model.pt" in extended["dry"]
    runs = extended["repo"] / "results/runs/base2novel"
    for dataset in ("ucf101", "toyset"):
        metrics = json.loads((runs / dataset / "toy/seed1/metrics.json").read_text(encoding="utf-8"))
        assert metrics["method"] == "toy" and 0 <= metrics["metrics"]["base"]["top1"] <= 100, metrics
        curve = pd.read_csv(runs / dataset / "toy/seed1/train_log.csv")
        assert curve["epoch"].max() == 2  # 3 epochs, counted from 0


def test_both_entries_are_rows_and_blocks_of_the_table(extended: dict) -> None:
    html = (extended["repo"] / "results/tables/base2novel.html").read_text(encoding="utf-8")
    assert html.count("Toy max-pool CLIP") == 2  # one row per dataset block
    assert "Toy Set" in html and "UCF-101" in html
    table = pd.read_csv(extended["repo"] / "results/aggregates/base2novel.csv")
    assert {("toyset", "toy"), ("toyset", "vifi"), ("ucf101", "toy")} <= set(
        zip(table.dataset, table.method, strict=True)
    )


def test_the_flop_counter_counts_the_new_method(extended: dict, tmp_path: Path) -> None:
    out = tmp_path / "flops.json"
    argv = ["python", "-m", "vifi", "flops", "--arch", "vifi-tiny", "--json", str(out)]
    run([*argv, "--method", "toy", "--num-frames", "4", "--method", "vifi", "--num-frames", "4"],
        cwd=extended["repo"])  # fmt: skip
    gflops = json.loads(out.read_text(encoding="utf-8"))
    assert set(gflops) == {"toy", "vifi"} and gflops["toy"] > 0
