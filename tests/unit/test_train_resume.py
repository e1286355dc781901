"""Training is deterministic on CPU and survives SIGKILL: a rerun resumes and ends bit-identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_same_training, assert_same_weights, tool_env, train_args
from vifi.engine import checkpoint, train
from vifi.engine.train import TrainConfig
from vifi.stages import train as train_stage
from vifi.stages.modelargs import config_from_args


def train_cmd(run: dict, out: Path) -> list[str]:
    return [sys.executable, "-m", "vifi", *train_args(run, out)]


def test_same_seed_same_weights_and_kill_then_rerun_resumes_exactly(tiny_run, tmp_path):
    env = tool_env()
    ref, again, killed = tmp_path / "ref", tmp_path / "again", tmp_path / "killed"
    for out in (ref, again):
        subprocess.run(train_cmd(tiny_run, out), env=env, check=True, capture_output=True)
    assert_same_weights(ref / "model.pt", again / "model.pt")

    proc = subprocess.Popen(
        train_cmd(tiny_run, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    resume = killed / "model.pt.resume"
    deadline = time.monotonic() + 120
    while not resume.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch, mid-way
    assert proc.poll() is None, "training finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert resume.exists() and not (killed / "model.pt").exists()

    log = subprocess.run(train_cmd(tiny_run, killed), env=env, check=True, capture_output=True, text=True)
    assert "resuming" in log.stderr
    assert_same_weights(ref / "model.pt", killed / "model.pt")
    assert (ref / "log.csv").read_text() == (killed / "log.csv").read_text()
    assert not resume.exists()
    assert not list(killed.glob(".*.tmp")), "a temporary file of the killed run was left behind"


def test_two_torchrun_processes_equal_one_process_on_the_same_global_batch(tiny_run, tmp_path):
    """DDP over gloo with 2 x 4 clips per step ends where one process with 8 clips per step ends."""
    env = tool_env()

    def cmd(out: Path, batch: int) -> list[str]:
        args = train_cmd(tiny_run, out)[3:]  # drop `python -m vifi`
        args[args.index("--batch-size") + 1] = str(batch)
        args[args.index("--effective-batch") + 1] = "8"
        args[args.index("--mixup") + 1] = "0"  # mixing happens within each process's batch, as in the paper
        args[args.index("--cutmix") + 1] = "0"
        return args

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run([sys.executable, "-m", "vifi", *cmd(single, 8)], env=env, check=True, capture_output=True)
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "vifi",
    ]
    proc = subprocess.run([*launcher, *cmd(ddp, 4)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same_training(single / "model.pt", ddp / "model.pt", tiny_run["weights"])


@pytest.mark.parametrize(("interval", "saves"), [(0, 3), (3600, 0)])
def test_resume_points_are_written_at_most_every_interval(tiny_run, tmp_path, monkeypatch, interval, saves):
    """Every epoch but the last with interval 0; none in a run shorter than the interval. The interval does
    not change what is computed, so it is left out of the fingerprint that guards resuming."""
    written = []
    monkeypatch.setattr(checkpoint, "save", lambda path, **state: written.append(state["epoch"]))
    train_stage.main(
        train_args(tiny_run, tmp_path, epochs=saves + 1 if saves else 2, resume_interval=interval)[1:]
    )
    assert written == list(range(1, saves + 1))
    assert (tmp_path / "model.pt").is_file()
    args = config_from_args(TrainConfig, train_stage.parser().parse_args(train_args(tiny_run, tmp_path)[1:]))
    other_argv = train_args(tiny_run, tmp_path, resume_interval=5)[1:]
    other = config_from_args(TrainConfig, train_stage.parser().parse_args(other_argv))
    assert train.fingerprint(args) == train.fingerprint(other)


def test_device_augmentation_trains_the_same_weights_as_augmenting_in_the_loader(tiny_run, tmp_path):
    """On CPU the batched photometric steps give the loader's clips exactly (tolerance 0), so the weights and
    the per-step log match bit for bit."""
    loader, device = tmp_path / "loader", tmp_path / "device"
    train_stage.main(train_args(tiny_run, loader, epochs=2)[1:])
    train_stage.main([*train_args(tiny_run, device, epochs=2)[1:], "--device-augment"])
    assert_same_weights(loader / "model.pt", device / "model.pt")
    assert (loader / "log.csv").read_text() == (device / "log.csv").read_text()
