"""The whole pipeline on the smoke config, in a throwaway git+DVC copy of the repository.

One run covers both executors: `dvc repro` drives the Snakemake phase targets, a second `dvc repro` must be a
no-op, Snakemake must agree that nothing is left to do, and editing only a table template must re-run only the
render job.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run
from vifi import kernels, provenance

pytestmark = pytest.mark.integration


def test_tables_are_rendered_with_learned_numbers(smoke_repo: Path):
    tex = (smoke_repo / "results/tables/base2novel.tex").read_text()
    html = (smoke_repo / "results/tables/base2novel.html").read_text()
    assert "\\toprule" in tex and "ViFi-CLIP" in tex and "UCF-101" in tex
    assert "synthetic" in html.lower()
    table = pd.read_csv(smoke_repo / "results/aggregates/base2novel.csv").set_index("method")
    vifi = table.loc["vifi"]
    assert vifi["n_seeds"] == 3
    chance = 100 / 4  # 8 classes: 4 base
    assert vifi["base_mean"] > chance + 15, table.to_string()
    seeds = sorted((smoke_repo / "results/runs/base2novel/ucf101").glob("vifi/seed*/metrics.json"))
    assert len(seeds) == 3, "ViFi-CLIP once per training subset"
    assert (smoke_repo / "results/runs/base2novel/ucf101/vanilla/main/metrics.json").is_file(), "vanilla once"
    page = (smoke_repo / "results/index.html").read_text()
    assert page.count("<table") >= 1 and "data:image/png;base64," in page


def test_every_fine_tuning_run_reduced_its_loss(smoke_repo: Path):
    """Accuracy above chance could come from the pretrained CLIP alone; the loss curve shows training worked."""
    logs = sorted(smoke_repo.glob("results/runs/base2novel/*/vifi/seed*/train_log.csv"))
    assert len(logs) == 3
    for log in logs:
        per_epoch = pd.read_csv(log).groupby("epoch")["loss"].mean()
        assert per_epoch.iloc[-1] < 0.85 * per_epoch.iloc[0], (log, per_epoch.round(3).to_dict())


def test_the_pretrained_clip_records_its_recipe_and_the_kernels_it_ran_on(smoke_repo: Path):
    record = provenance.checkpoint_record(smoke_repo / "checkpoints/pretrained/vifi-tiny.pt")
    assert record["stage"] == "pretrain" and record["args"]["threads"] == 1
    hw = record["hardware"]
    assert {k: v for k, v in hw["kernel_env"].items() if v} == kernels.pin_env("avx2")
    assert hw["isa"].endswith(" AVX2") and hw["threads"] == 1
    assert record["git"]["commit"] and "torch" in record["packages"]


def test_second_dvc_repro_is_a_noop_and_snakemake_agrees(smoke_repo: Path):
    out = run(["dvc", "repro"], cwd=smoke_repo).stdout
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out
    dry = run(["snakemake", "-n"], cwd=smoke_repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_more_loader_workers_and_device_augmentation_rerun_nothing(smoke_repo: Path, tmp_path: Path):
    """Loader workers and where the augmentation runs set a job's speed, not its result: finished runs stay
    finished when they change."""
    faster = tmp_path / "faster.yaml"
    faster.write_text("train:\n  workers: 2\n  device_augment: true\nevaluate:\n  workers: 3\n")
    dry = run(["snakemake", "-n", "--configfile", str(faster)], cwd=smoke_repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout
    forced = run(
        ["snakemake", "-n", "-F", "-p", "--cores", "8", "--configfile", str(faster)], cwd=smoke_repo
    ).stdout
    assert re.search(r"vifi train .*--threads 3 --workers 2 ", forced), "the new count must reach the job"
    assert re.search(r"vifi train .*--augment vifi .* --device-augment ", forced), "the switch must reach it"
    assert re.search(r"vifi evaluate .*--threads 4 --workers 3 ", forced)


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
        jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", dry.stdout, re.M)}
        rerun = set(jobs) - {"total", "all"}
        # The one table, and the page and paper that show it; no run, aggregate or figure.
        assert jobs.get("render") == 1 and rerun - {"index", "paper"} == {"render"}, dry.stdout
    finally:
        template.write_text(original)


def test_changing_one_seed_rerenders_only_what_uses_it(smoke_repo: Path):
    """A changed metrics.json of one seed re-aggregates its protocol and re-renders only what shows it."""
    seed = smoke_repo / "results/runs/base2novel/ucf101/vifi/seed2/metrics.json"
    original, before = seed.read_bytes(), seed.stat()
    try:
        record = json.loads(original)
        record["metrics"]["base"]["top1"] += 0.5
        seed.write_text(json.dumps(record))
        dry = run(["snakemake", "-n", "--quiet", "rules"], cwd=smoke_repo)
        jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", dry.stdout, re.M)}
        rerun = set(jobs) - {"total", "all"}
        assert {"aggregate", "render", "figure_metrics", "findings"} <= rerun, dry.stdout
        # audit_effect rescores every run's predictions under both audit policies: metrics.json is its input
        expected = {"aggregate", "render", "figure_metrics", "findings", "audit_effect", "index", "paper"}
        assert rerun <= expected, dry.stdout
        assert jobs["aggregate"] == 1 and jobs["render"] == 1, dry.stdout
    finally:
        seed.write_bytes(original)
        os.utime(seed, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_snakemake_report_has_every_table_and_figure(smoke_repo: Path, tmp_path: Path):
    out = tmp_path / "report.html"
    run(["snakemake", "--report", str(out)], cwd=smoke_repo)
    text = out.read_text(errors="replace")
    for name in ("base2novel.html", "base2novel.png", "curves_base2novel.png", "index.html"):
        assert name in text, name
