"""The SLURM profile on a real one-node SLURM cluster (scripts/slurm-local.sh), with the documented command
(docs/gpus-and-clusters.md).

The smoke grid runs through SLURM end to end: every job a SLURM job (sacct), GPU rules with their GPUs
(scontrol), `vifi.gpu_pool` stepping aside, and the results equal to the local run of the same grid. Then the
faults a cluster brings: a cancelled training job, a killed controller, and a 2-GPU job under torchrun.

The test profile is the real one with only sizes changed (the node has 2 CPUs, 2 GPUs, 4 GB) and the plugin's
status checks made quick. Skips unless root with the Debian packages of `scripts/system-deps.sh slurm`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import ROOT, assert_same_training, assert_same_weights, tool_env
from tests.integration.conftest import SMOKE, copy_checkout, write_params
from vifi import heartbeat

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "scripts" / "slurm-local.sh"
PROFILE = Path("workflow/profiles/slurm/profile.yaml")
DOCUMENTED_COMMAND = ["snakemake", "--workflow-profile", "workflow/profiles/slurm"]
SLURM_TOOLS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct", "scancel")
GPU_RULES = {"pretrain", "train", "evaluate", "evaluate_seeds"}
RUN = "results/runs/base2novel/ucf101/vifi/seed1"
SACCT_FIELDS = ("JobID", "JobName", "Partition", "State", "ExitCode", "Elapsed", "AllocTRES", "Comment")
# The plugin's status checks: 1 s apart at first and after any check that saw a job end (defaults 10 s and
# 40 s); each check that saw none adds 10 s (the plugin's fixed step, up to 180 s).
QUICK_STATUS = {"slurm-init-seconds-before-status-checks": 1, "seconds-between-status-checks": 1}


def missing_cluster() -> str | None:
    """Why no test cluster can start here, or None."""
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (scripts/slurm-local.sh)"
    missing = [tool for tool in SLURM_TOOLS if not shutil.which(tool, path=f"{os.environ['PATH']}:/usr/sbin")]
    if missing:
        return (
            f"no {', '.join(missing)}; on Debian `scripts/system-deps.sh slurm` installs SLURM, munge, MariaDB"
        )
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running cluster as the environment its clients need; stopped afterwards, by PID, however tests end."""
    if why := missing_cluster():
        pytest.skip(why)
    directory = tmp_path_factory.mktemp("slurm")
    try:
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(directory)], capture_output=True, text=True, timeout=300
        )
        if started.returncode == 3:
            pytest.skip(started.stderr.strip())
        assert started.returncode == 0, f"slurm-local.sh start failed:\n{started.stdout}\n{started.stderr}"
        yield {"SLURM_CONF": str(directory / "slurm.conf")}
    finally:
        pids = [int(p.read_text()) for p in (directory / "pids").glob("*")]
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=120)
        assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "a daemon outlived `stop`"


def write_profile(repo: Path, **train: int) -> None:
    """The test profile: the real one with the node's sizes, quick status checks, and `train`'s overrides."""
    profile = yaml.safe_load((ROOT / PROFILE).read_text())
    profile["default-resources"].update(mem_mb=500, runtime=30)
    for resources in profile["set-resources"].values():
        resources.update(mem_mb=1000, runtime=30, cpus_per_gpu=1)
    profile["set-resources"]["train"].update(train)
    (repo / PROFILE).write_text(yaml.safe_dump({**profile, **QUICK_STATUS}, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with params.yaml narrowed to the smoke grid and the test profile in place of the real one."""
    repo = tmp_path_factory.mktemp("slurm-grid") / "repo"
    copy_checkout(repo)
    write_params(repo, SMOKE)
    write_profile(repo)
    return repo


def environment(repo: Path, cluster: dict[str, str]) -> dict[str, str]:
    return tool_env(repo) | cluster


def slurm(args: list[str], cluster: dict[str, str]) -> str:
    return subprocess.run(args, env=os.environ | cluster, capture_output=True, text=True, check=True).stdout


def sacct(cluster: dict[str, str], *select: str) -> list[dict[str, str]]:
    """One row per job allocation (steps left out), oldest first."""
    out = slurm(["sacct", "-X", "-P", "-n", "-S", "2000-01-01", "-o", ",".join(SACCT_FIELDS), *select], cluster)
    return [dict(zip(SACCT_FIELDS, line.split("|"), strict=True)) for line in out.splitlines()]


def scontrol_jobs(cluster: dict[str, str]) -> dict[str, dict[str, str]]:
    """`scontrol show job` of every job slurmctld still holds (MinJobAge is an hour), by job id."""
    out = slurm(["scontrol", "show", "job", "-o"], cluster)
    jobs = (dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines())
    return {job["JobId"]: job for job in jobs}


def rule_of(comment: str) -> str:
    """The rule name in the plugin's job comment, `rule_<name>` or `rule_<name>_wildcards_<values>`."""
    return re.fullmatch(r"rule_(\w+?)(_wildcards_.*)?", comment).group(1)


def run_id(output: str) -> str:
    """The SLURM job name the plugin gives every job of one Snakemake run."""
    return re.search(r"SLURM run ID: (\S+)", output).group(1)


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)
    return result


def start(repo: Path, cluster: dict[str, str], *extra: str) -> subprocess.Popen:
    """The documented command, with `extra` arguments, as a background controller."""
    return subprocess.Popen(
        [*DOCUMENTED_COMMAND, *extra], cwd=repo, env=environment(repo, cluster), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def finish(controller: subprocess.Popen, timeout: float = 1800) -> str:
    output, _ = controller.communicate(timeout=timeout)
    assert controller.returncode == 0, output[-6000:]
    return output


@pytest.fixture(scope="module")
def grid_run(repo: Path, cluster: dict[str, str]) -> dict:
    """The documented command exactly as written, on the smoke grid; its output, sacct rows and scontrol
    jobs."""
    began = time.monotonic()
    output = finish(start(repo, cluster))
    rows = sacct(cluster, "--name", run_id(output))
    print(f"SLURM smoke grid: {time.monotonic() - began:.0f} s, {len(rows)} jobs")
    print(
        slurm(
            ["sacct", "-X", "-S", "2000-01-01", "-o", "JobID,Partition,State,Elapsed,AllocTRES%45,Comment%60"],
            cluster,
        )
    )
    record = heartbeat.read(repo / heartbeat.RECORD)
    return {"output": output, "sacct": rows, "scontrol": scontrol_jobs(cluster), "record": record}


def test_every_job_ran_as_a_completed_slurm_job(grid_run: dict):
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", grid_run["output"])
    assert steps, grid_run["output"][-3000:]
    assert re.findall(r"^localrule (\w+):", grid_run["output"], re.M) == ["all"], "only the target runs locally"
    rows = grid_run["sacct"]
    assert len(rows) == int(steps[-1][1]) - 1, [r["Comment"] for r in rows]
    assert {r["State"] for r in rows} == {"COMPLETED"}, rows
    rules = {rule_of(r["Comment"]) for r in rows}
    assert {"extract", "pretrain", "train", "evaluate", "aggregate", "render", "index"} <= rules, rules
    assert grid_run["record"] is None, "the controller that ended normally left its heartbeat record"


def test_gpu_rules_got_gpus_and_cpu_rules_none(grid_run: dict):
    """`gpu: 1` reaches sbatch as --gpus=1 on the gpu partition; extraction shards are CPU jobs."""
    by_rule: dict[str, list[dict[str, str]]] = {}
    for row in grid_run["sacct"]:
        by_rule.setdefault(rule_of(row["Comment"]), []).append(row)
    assert len(by_rule["extract"]) == 2, "one job per shard"
    for rule, rows in by_rule.items():
        for row in rows:
            job = grid_run["scontrol"][row["JobID"]]
            if rule in GPU_RULES:
                assert (row["Partition"], job.get("TresPerJob")) == ("gpu", "gres:gpu:1"), (rule, job)
                assert "gres/gpu=1" in row["AllocTRES"], row
            else:
                assert row["Partition"] == "cpu" and "gpu" not in row["AllocTRES"], row


def test_gpu_pool_stepped_aside_in_every_gpu_job(repo: Path, grid_run: dict):
    """Each GPU job's log has the pool's pass-through line naming its own SLURM job and the one device SLURM
    gave it (device 1 where two ran at once)."""
    ids = {r["JobID"] for r in grid_run["sacct"] if rule_of(r["Comment"]) in GPU_RULES}
    logs = [p for p in (repo / "logs").rglob("*.log") if "vifi.gpu_pool" in p.read_text(errors="replace")]
    said = {
        m[1]
        for p in logs
        for m in re.finditer(r"SLURM job (\d+): using CUDA_VISIBLE_DEVICES='[01]' as given", p.read_text())
    }
    assert len(logs) == len(ids) and said == ids, (sorted(said), sorted(ids))


def metrics(repo: Path) -> dict[str, dict]:
    return {
        str(p.relative_to(repo)): json.loads(p.read_text())["metrics"]
        for p in sorted(repo.glob("results/runs/**/metrics.json"))
    }


def test_results_equal_the_local_run_of_the_same_grid(repo: Path, built_smoke_repo: Path, grid_run: dict):
    local = metrics(built_smoke_repo)
    assert len(local) == 4 and metrics(repo) == local
    table = "results/aggregates/base2novel.csv"
    assert (repo / table).read_text() == (built_smoke_repo / table).read_text()
    for seed in (1, 2, 3):
        model = f"results/runs/base2novel/ucf101/vifi/seed{seed}/model.pt"
        assert_same_weights(repo / model, built_smoke_repo / model)


def jobs_of(cluster: dict[str, str], output: str) -> list[dict[str, str]]:
    return sacct(cluster, "--name", run_id(output))


def test_a_cancelled_training_job_is_resubmitted_and_resumes(
    repo: Path, cluster: dict, grid_run: dict, tmp_path
):
    """scancel mid-run: the profile's `retries` resubmits the job, which resumes from its last epoch's resume
    point and ends with the weights of the uninterrupted run."""
    uninterrupted = tmp_path / "model.pt"
    shutil.copy(repo / RUN / "model.pt", uninterrupted)
    every_epoch = tmp_path / "resume.yaml"
    every_epoch.write_text("train:\n  resume_interval: 0\n")
    controller = start(repo, cluster, "--configfile", str(every_epoch), "--force", f"{RUN}/model.pt")

    def running_with_resume_point() -> str | None:
        running = slurm(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], cluster).split()
        return running[0] if running and (repo / RUN / "model.pt.resume").exists() else None

    job = wait_until(running_with_resume_point, 300, "a resume point of the running training job")
    slurm(["scancel", job], cluster)
    output = finish(controller)
    assert [r["State"] for r in jobs_of(cluster, output)] == ["CANCELLED by 0", "COMPLETED"]
    log = (repo / "logs/train/base2novel/ucf101/vifi/seed1.log").read_text()
    assert re.search(r"resuming .*model\.pt after epoch [1-9]", log), log[-3000:]
    assert_same_weights(uninterrupted, repo / RUN / "model.pt")


def test_a_restarted_controller_redoes_nothing_its_killed_predecessor_ran(repo: Path, cluster: dict, grid_run):
    """The controller is killed while two training jobs run, and `scripts/slurm-restart.sh` is started at once.
    Snakemake cannot re-attach to jobs still in SLURM, so the script waits for them to leave the queue, unlocks
    and runs again: nothing is submitted twice, both trainings count as finished, and only the evaluation they
    feed, which the killed controller never submitted, is submitted."""
    seeds = [f"results/runs/base2novel/ucf101/vifi/seed{seed}/model.pt" for seed in (1, 2)]
    controller = start(repo, cluster, "runs_all", "--forcerun", *seeds)
    wait_until(lambda: len(slurm(["squeue", "-h", "-t", "RUNNING"], cluster).splitlines()) == 2, 300, "2 jobs")
    controller.kill()
    output, _ = controller.communicate()
    recorded = heartbeat.read(repo / heartbeat.RECORD)
    assert recorded and (recorded.host, recorded.pid) == (socket.gethostname(), controller.pid), recorded
    still_queued = slurm(["squeue", "-h", "-o", "%i"], cluster).split()
    restart = subprocess.run(
        ["bash", "scripts/slurm-restart.sh", "runs_all"], cwd=repo, capture_output=True, text=True,
        timeout=1200, env=environment(repo, cluster) | {"VIFI_RESTART_POLL": "1"},
    )  # fmt: skip
    assert restart.returncode == 0, restart.stdout[-6000:] + restart.stderr[-3000:]
    assert still_queued and "waiting for 2 job(s) of the earlier run" in restart.stdout, restart.stdout[-3000:]
    killed = jobs_of(cluster, output)
    assert [(rule_of(r["Comment"]), r["State"]) for r in killed] == [("train", "COMPLETED")] * 2, killed
    restarted = jobs_of(cluster, restart.stdout + restart.stderr)
    assert [rule_of(r["Comment"]) for r in restarted] == ["evaluate_seeds"], restart.stderr[-3000:]


def test_the_restart_script_refuses_while_a_controller_is_alive(repo: Path, cluster: dict, grid_run):
    """Unlocking under a live controller would let two write the same outputs: the script names it and stops."""
    controller = start(repo, cluster, "runs_all", "--forcerun", f"{RUN}/model.pt")
    try:
        wait_until(lambda: slurm(["squeue", "-h"], cluster).strip(), 300, "the training job")
        refused = subprocess.run(
            ["bash", "scripts/slurm-restart.sh"], cwd=repo, capture_output=True, text=True,
            env=environment(repo, cluster),
        )  # fmt: skip
    finally:
        controller.kill()
        controller.communicate()
        wait_until(lambda: not slurm(["squeue", "-h"], cluster).strip(), 600, "the killed run's job to finish")
        subprocess.run(["snakemake", "--unlock"], cwd=repo, env=environment(repo, cluster), check=True)
    assert refused.returncode == 1
    named = re.search(
        rf"controller of {re.escape(str(repo.resolve()))} is still running \(PID ([\d ]+)\)", refused.stderr
    )
    assert named and str(controller.pid) in named.group(1).split(), refused.stderr


def test_a_two_gpu_training_job_runs_torchrun_over_its_allocation(
    repo: Path, cluster: dict, grid_run, tmp_path
):
    """`gpu: 2` gets both GPUs; the pool starts 2 gloo processes with torchrun, 4 clips each per step, and the
    weights equal the 1-process run's with 8 clips per step."""
    one_process = tmp_path / "model.pt"
    shutil.copy(repo / RUN / "model.pt", one_process)
    half_batch = tmp_path / "batch.yaml"
    half_batch.write_text("train:\n  batch_size: 4\n")
    write_profile(repo, gpu=2)
    try:
        output = finish(start(repo, cluster, "--configfile", str(half_batch), "--force", f"{RUN}/model.pt"))
    finally:
        write_profile(repo)
    (job,) = jobs_of(cluster, output)
    assert scontrol_jobs(cluster)[job["JobID"]]["TresPerJob"] == "gres:gpu:2"
    log = (repo / "logs/train/base2novel/ucf101/vifi/seed1.log").read_text()
    assert f"SLURM job {job['JobID']}: using CUDA_VISIBLE_DEVICES='0,1'" in log, log[-3000:]
    meta = torch.load(repo / RUN / "model.pt", map_location="cpu", weights_only=False)["meta"]
    assert (meta["world_size"], meta["accumulation"]) == (2, 1)
    assert_same_training(one_process, repo / RUN / "model.pt", repo / "checkpoints/pretrained/vifi-tiny.pt")
