"""The whole pipeline on the smoke config, in a throwaway git+DVC copy of the repository.

One run covers both executors: `dvc repro` drives the Snakemake phase targets, a second `dvc repro` must be a
no-op, Snakemake must agree that nothing is left to do, and editing only a table template must re-run only the
render job.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, run

pytestmark = pytest.mark.integration


def copy_checkout(dest: Path) -> None:
    """Copy what a fresh clone would hold (tracked plus new, non-ignored files) into `dest`."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("smoke") / "repo"
    copy_checkout(repo)
    shutil.copy(ROOT / "tests/integration/smoke.yaml", repo / "params.yaml")
    run(["git", "init", "-q"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "smoke"], cwd=repo)
    run(["dvc", "repro"], cwd=repo, timeout=900)
    return repo


def test_tables_are_rendered_with_learned_numbers(smoke_repo: Path):
    tex = (smoke_repo / "results/tables/base2novel.tex").read_text()
    html = (smoke_repo / "results/tables/base2novel.html").read_text()
    assert "\\toprule" in tex and "ViFi-CLIP" in tex and "UCF-101" in tex
    assert "synthetic" in html.lower()
    table = pd.read_csv(smoke_repo / "results/metrics/base2novel.csv").set_index("method")
    vifi = table.loc["vifi"]
    assert vifi["n_seeds"] == 3
    chance = 100 / 4  # 8 classes: 4 base
    assert vifi["base_mean"] > chance + 15, table.to_string()
    metrics = sorted((smoke_repo / "results/runs/base2novel/ucf101").glob("*/seed*/metrics.json"))
    assert len(metrics) == 6


def test_every_fine_tuning_run_reduced_its_loss(smoke_repo: Path):
    """Accuracy above chance could come from the pretrained CLIP alone; the loss curve shows training worked."""
    logs = sorted(smoke_repo.glob("results/runs/base2novel/*/vifi/seed*/train_log.csv"))
    assert len(logs) == 3
    for log in logs:
        per_epoch = pd.read_csv(log).groupby("epoch")["loss"].mean()
        assert per_epoch.iloc[-1] < 0.85 * per_epoch.iloc[0], (log, per_epoch.round(3).to_dict())


def test_second_dvc_repro_is_a_noop_and_snakemake_agrees(smoke_repo: Path):
    out = run(["dvc", "repro"], cwd=smoke_repo).stdout
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out
    dry = run(["snakemake", "-n"], cwd=smoke_repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_raw_data_and_checkpoints_push_to_the_default_remote(smoke_repo: Path):
    """The synthetic raw data, the pretrained CLIP and the fine-tuned runs are DVC-tracked and pushable."""
    run(["dvc", "push"], cwd=smoke_repo)
    status = run(["dvc", "status", "--cloud"], cwd=smoke_repo).stdout
    assert "Cache and remote 'local' are in sync" in status, status
    tracked = run(["dvc", "ls", "--dvc-only", "-R", ".", "checkpoints"], cwd=smoke_repo).stdout
    assert "pretrained/vifi-tiny.pt" in tracked


def test_editing_a_template_reruns_only_the_render_job(smoke_repo: Path):
    template = smoke_repo / "src/vifi/report/templates/base2novel.html.j2"
    original = template.read_text()
    try:
        template.write_text(original + "\n{# edited #}\n")
        dry = run(["snakemake", "-n", "--quiet", "rules"], cwd=smoke_repo)
        jobs = {m[1] for m in re.finditer(r"^(\w+)\s+\d+$", dry.stdout, re.M)} - {"total", "all"}
        assert jobs == {"render"}, dry.stdout
    finally:
        template.write_text(original)
