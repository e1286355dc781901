"""The SLURM profile sends every GPU job to the GPU partition with its GPU settings (dry run, no cluster)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT, run

pytest.importorskip(
    "snakemake_executor_plugin_slurm",
    reason="snakemake-executor-plugin-slurm is not installed (pyproject pins it)",
)

PROFILE = ROOT / "workflow" / "profiles" / "slurm"


def gpu_rules() -> set[str]:
    """Rules whose `resources:` declare a gpu count, and rules derived from them (`use rule a as b`)."""
    names, texts = set(), [smk.read_text() for smk in (ROOT / "workflow" / "rules").glob("*.smk")]
    for text in texts:
        for block in re.split(r"^(?=rule )", text, flags=re.MULTILINE):
            if (name := re.match(r"rule (\w+):", block)) and re.search(r"^\s+gpu=", block, flags=re.MULTILINE):
                names.add(name.group(1))
    derived = (m.groups() for text in texts for m in re.finditer(r"^use rule (\w+) as (\w+)", text, re.M))
    return names | {child for parent, child in derived if parent in names}


def job_resources(dry_run: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) for every job of a dry run's listing."""
    jobs, rule = [], None
    for line in dry_run.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line):
            rule = m.group(1)
        elif line.startswith("    resources: ") and rule:
            pairs = (item.split("=", 1) for item in line.removeprefix("    resources: ").split(", "))
            jobs.append((rule, dict(pairs)))
    return jobs


def test_every_gpu_rule_has_set_resources():
    profile = yaml.safe_load((PROFILE / "profile.yaml").read_text())
    missing = gpu_rules() - set(profile["set-resources"])
    assert not missing, f"set-resources needs exact rule names; add {sorted(missing)} to {PROFILE}/profile.yaml"


def test_dry_run_sends_gpu_jobs_to_the_gpu_partition():
    proc = run(["snakemake", "--executor", "slurm", "-n", "--workflow-profile", str(PROFILE), "-F"], cwd=ROOT)
    jobs = job_resources(proc.stdout)
    on_gpu = {rule for rule, res in jobs if int(res.get("gpu", 0)) > 0}
    in_dag = gpu_rules() & {rule for rule, _ in jobs}
    assert in_dag and in_dag <= on_gpu, (in_dag, on_gpu)
    for rule, res in jobs:
        if rule in on_gpu:
            assert res["slurm_partition"] == "gpu" and res["gpu"] == "1", (rule, res)
            assert res["cpus_per_gpu"] == "8" and res["cpus_per_task"] == "0", (rule, res)
        else:
            assert res["slurm_partition"] == "cpu" and res["runtime"] == "60", (rule, res)
