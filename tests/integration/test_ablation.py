"""An ablation as a DVC experiment on the built smoke repository: `dvc exp run -S base2novel.train.lr=...`.

A training-only key must re-run only what depends on it: DVC skips `prepare`, Snakemake retrains and
re-evaluates ViFi-CLIP and leaves vanilla CLIP's evaluation alone, and DVC's bookkeeping (`exp show`,
`exp diff`) sees the changed key and the changed ViFi-CLIP metrics. Going back to the baseline and applying
the experiment again restores files without training, after which `make sync`'s two commands align the tools.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import run
from tests.integration.conftest import SMOKE, merged_params

pytestmark = pytest.mark.integration

# The key that sets base-to-novel's LR in params.yaml (`train.lr` does not reach that protocol).
KEY = "base2novel.train.lr"
BASE_LR = merged_params(SMOKE)["base2novel"]["train"]["lr"]
ABLATION_LR = round(5 * BASE_LR, 12)  # a value written as it reads, 0.0005
PREPARED = ("data/raw", "data/frames", "data/splits", "checkpoints/pretrained")
RUNS = "results/runs/base2novel/ucf101"
REPORTED = ("results/metrics", "results/tables", "results/figures")  # the report stage's DVC outputs
METRICS = "results/metrics/base2novel.json"
JOB_ROW = re.compile(r"^(\w+)\s+(\d+)$", re.M)

Fingerprint = dict[str, tuple[int, str]]


@dataclass(frozen=True)
class Ablation:
    repo: Path
    name: str
    log: str
    params_before: str
    before: Fingerprint
    after: Fingerprint


def fingerprint(repo: Path, *dirs: str) -> Fingerprint:
    """mtime (ns) and MD5 of every file under `dirs`: a job that re-ran changed at least the mtime."""
    found = {}
    for top in dirs:
        for path in sorted((repo / top).rglob("*")):
            if path.is_file():
                with path.open("rb") as fh:
                    digest = hashlib.file_digest(fh, "md5").hexdigest()
                found[path.relative_to(repo).as_posix()] = (path.stat().st_mtime_ns, digest)
    return found


def job_counts(table: str) -> dict[str, int]:
    """Jobs per rule in a Snakemake job table, without the total and the target rules (`all`, `*_all`)."""
    rows = {m[1]: int(m[2]) for m in JOB_ROW.finditer(table)}
    return {rule: n for rule, n in rows.items() if rule != "total" and rule.split("_")[-1] != "all"}


def stage_jobs(log: str) -> list[dict[str, int]]:
    """Jobs per rule of each Snakemake run in a log, in order: DVC starts one per stage it runs."""
    return [job_counts(table.split("\n\n")[0]) for table in log.split("Job stats:")[1:]]


def rules_of(repo: Path, *files: str) -> set[str]:
    return {m[1] for f in files for m in re.finditer(r"^rule (\w+):", (repo / f).read_text(), re.M)}


def digests(found: Fingerprint, part: str) -> dict[str, str]:
    return {path: digest for path, (_, digest) in found.items() if part in path}


@pytest.fixture(scope="module")
def ablation(smoke_repo: Path) -> Ablation:
    """The built baseline committed (dvc.lock included), then one workspace experiment on the LR."""
    run(["git", "add", "-A"], cwd=smoke_repo)
    run(["git", "commit", "-qm", "baseline"], cwd=smoke_repo)
    params_before = (smoke_repo / "params.yaml").read_text()
    before = fingerprint(smoke_repo, *PREPARED, RUNS, *REPORTED)
    proc = run(["dvc", "exp", "run", "-S", f"{KEY}={ABLATION_LR}"], cwd=smoke_repo, timeout=900)
    names = run(["dvc", "exp", "list", "--name-only"], cwd=smoke_repo).stdout.split()
    assert len(names) == 1, names
    return Ablation(
        repo=smoke_repo,
        name=names[0],
        log=proc.stdout + proc.stderr,
        params_before=params_before,
        before=before,
        after=fingerprint(smoke_repo, *PREPARED, RUNS, *REPORTED),
    )


def test_dvc_skips_prepare_and_snakemake_reruns_only_vifi(ablation: Ablation):
    assert "Stage 'prepare' didn't change, skipping" in ablation.log, ablation.log
    experiments, report = stage_jobs(ablation.log)
    # 3 seeds of ViFi-CLIP, evaluated in one job; vanilla CLIP's evaluation does not read the recipe.
    assert experiments == {"train": 3, "evaluate_seeds": 1}, ablation.log
    upstream = rules_of(ablation.repo, "workflow/rules/data.smk", "workflow/rules/pretrain.smk")
    assert "aggregate" in report and report.keys().isdisjoint(upstream | experiments.keys()), report


def test_prepared_data_and_pretrained_clip_are_untouched(ablation: Ablation):
    prepared = {path: v for path, v in ablation.before.items() if path.startswith(PREPARED)}
    assert any(path.startswith("data/frames/") for path in prepared)
    assert any(path.startswith("checkpoints/pretrained/") for path in prepared)
    assert {path: ablation.after[path] for path in prepared} == prepared


def test_vifi_runs_changed_and_vanilla_metrics_did_not(ablation: Ablation):
    vifi_before, vifi_after = digests(ablation.before, "/vifi/"), digests(ablation.after, "/vifi/")
    assert len(vifi_before) == 12  # model.pt, train_log.csv, metrics.json and predictions.csv of 3 seeds
    assert vifi_after.keys() == vifi_before.keys()
    assert all(vifi_after[path] != digest for path, digest in vifi_before.items())
    vanilla = f"{RUNS}/vanilla/main/metrics.json"
    assert ablation.after[vanilla] == ablation.before[vanilla]


def comments_not_after_a_list(text: str) -> list[str]:
    """Comment lines whose nearest line of YAML above is not a list item.

    DVC's rewrite may drop a comment that follows a block list (ruamel.yaml attaches it to the last item, and
    DVC re-indents the items): six of params.yaml's comments are such. Every other comment must survive.
    """
    found, after_item = [], False
    for line in map(str.strip, text.splitlines()):
        if line.startswith("#"):
            if not after_item:
                found.append(line)
        elif line:
            after_item = line.startswith("- ")
    return found


def test_params_yaml_keeps_its_values_comments_and_block_style(ablation: Ablation):
    """`dvc exp run -S` rewrites params.yaml; nothing but the key may change, and no list may turn flow."""
    rewritten = (ablation.repo / "params.yaml").read_text()
    expected = yaml.safe_load(ablation.params_before)
    expected["base2novel"]["train"]["lr"] = ABLATION_LR
    assert yaml.safe_load(rewritten) == expected
    comments = comments_not_after_a_list(ablation.params_before)
    assert comments and all(comment in rewritten for comment in comments)
    assert "[" not in rewritten


def test_exp_show_lists_the_experiment_with_its_lr_and_metrics(ablation: Ablation):
    rows = json.loads(run(["dvc", "exp", "show", "--json"], cwd=ablation.repo).stdout)
    experiments = {exp["name"]: exp["revs"][0]["data"] for row in rows for exp in row.get("experiments") or []}
    data = experiments[ablation.name]
    assert data["params"]["params.yaml"]["data"]["base2novel"]["train"]["lr"] == ABLATION_LR
    assert "vifi" in data["metrics"][METRICS]["data"]["ucf101"]


def test_exp_diff_shows_the_changed_key_and_vifi_metrics_only(ablation: Ablation):
    diff = json.loads(run(["dvc", "exp", "diff", "HEAD", ablation.name, "--json"], cwd=ablation.repo).stdout)
    params = diff["params"]["params.yaml"]
    assert params.keys() == {KEY}, params
    assert (params[KEY]["old"], params[KEY]["new"]) == (BASE_LR, ABLATION_LR)
    changed = diff["metrics"][METRICS]
    assert changed, diff
    assert {key.split(".")[1] for key in changed} == {"vifi"}, changed


def test_baseline_and_experiment_restore_without_training_after_a_sync(ablation: Ablation):
    """DVC restores files but not Snakemake's records of their params: `make sync` is what aligns them."""
    repo = ablation.repo
    run(["git", "checkout", "-q", "--", "."], cwd=repo)
    run(["dvc", "checkout"], cwd=repo)
    restored = fingerprint(repo, RUNS, *REPORTED)
    for part in ("/vifi/", *REPORTED):
        assert digests(restored, part) == digests(ablation.before, part), part
    stale = run(["snakemake", "-n", "--quiet", "rules"], cwd=repo).stdout
    assert "train" in job_counts(stale), stale

    run(["dvc", "exp", "apply", ablation.name], cwd=repo)
    applied = fingerprint(repo, RUNS, *REPORTED)
    for part in ("/vifi/", *REPORTED):
        assert digests(applied, part) == digests(ablation.after, part), part
    run(["snakemake", "--touch", "--quiet"], cwd=repo)
    run(["dvc", "commit", "-f"], cwd=repo)
    dry = run(["snakemake", "-n"], cwd=repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert "Data and pipelines are up to date" in run(["dvc", "status"], cwd=repo).stdout
