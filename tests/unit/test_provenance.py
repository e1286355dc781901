"""A metrics file carries its number's whole recipe: the `vifi train` command rebuilt from it alone is the one
that ran, every value has its real type, every input is named by hash, and code, packages and machine are
recorded in full."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import platform
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run, with_released_flags
from vifi import provenance
from vifi.stages import evaluate as evaluate_stage
from vifi.stages import train as train_stage
from vifi.stages.argtypes import command_line


def groups(argv: list[str]) -> set[tuple[str, ...]]:
    """A command line as its (flag, values...) groups, whatever their order."""
    found, current = set(), None
    for word in argv:
        if word.startswith("--"):
            if current:
                found.add(tuple(current))
            current = [word]
        else:
            current.append(word)
    found.add(tuple(current))
    return found


def evaluate_argv(run: dict, out: Path, weights: Path, method: str = "vifi") -> list[str]:
    splits = run["root"] / "splits"
    return with_released_flags(
        "evaluate",
        [
            *("--frames", str(run["shard"]), "--weights", str(weights), "--arch", "vifi-tiny"),
            *("--method", method, "--num-frames", "4", "--threads", "1", "--batch-size", "4"),
            *("--eval", "base", str(splits / "base_val.txt"), str(splits / "base_labels.csv")),
            *("--eval", "novel", str(splits / "novel_val.txt"), str(splits / "novel_labels.csv")),
            *("--protocol", "base2novel", "--dataset", "ucf101", "--run-name", "seed1"),
            *("--out", str(out / f"{method}.json"), "--predictions", str(out / f"{method}.csv")),
        ],
    )


def rule_train_argv(run_: dict, out: Path) -> list[str]:
    """The `vifi train` arguments the workflow's rule gives a base-to-novel ViFi-CLIP run (a dry run of the
    default grid), with the tiny run's files in place of the demo's and one epoch."""
    proc = run(["snakemake", "-n", "-F", "-p", "results/runs/base2novel/ucf101/vifi/seed1/model.pt"], cwd=ROOT)
    command = re.search(r"python -m vifi train (.*?) >", proc.stdout).group(1)
    files = {
        "--frames": run_["shard"], "--train-list": run_["train"], "--labels": run_["labels"],
        "--weights": run_["weights"], "--out": out / "model.pt", "--log-csv": out / "log.csv", "--epochs": 1,
    }  # fmt: skip
    argv = shlex.split(command)
    for flag, value in files.items():
        argv[argv.index(flag) + 1] = str(value)
    return argv


@pytest.fixture(scope="module")
def recorded(tiny_run: dict, tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> dict:
    """One tiny ViFi-CLIP trained as the rule trains it and evaluated, and vanilla CLIP evaluated: their argv
    and metrics files."""
    out = tmp_path_factory.mktemp("provenance")
    argv = rule_train_argv(tiny_run, out)
    assert train_stage.main(argv) == 0
    runs = {}
    for method, weights in (("vifi", out / "model.pt"), ("vanilla", tiny_run["weights"])):
        eval_argv = evaluate_argv(tiny_run, out, weights, method)
        assert evaluate_stage.main(eval_argv) == 0
        runs[method] = {"argv": eval_argv, "metrics": json.loads((out / f"{method}.json").read_text())}
    return {"train_argv": argv, **runs}


def test_the_train_command_rebuilt_from_metrics_alone_is_the_one_that_ran(recorded: dict) -> None:
    """Every flag the rule wrote comes back word for word (`--no-device-augment` included, params.yaml's
    `device_augment`) but the speed flag `--resume-interval`, which the record holds parsed (60 as 60.0), and
    both commands parse to the same run."""
    ran = recorded["train_argv"]
    record = recorded["vifi"]["metrics"]["provenance"]["train"]
    rebuilt = command_line(train_stage.parser(), record["args"])
    assert ("--no-device-augment",) in groups(ran)
    assert groups(rebuilt) - groups(ran) == {("--resume-interval", "60.0")}
    assert groups(ran) - groups(rebuilt) == {("--resume-interval", "60")}
    assert train_stage.parser().parse_args(rebuilt) == train_stage.parser().parse_args(ran)
    assert record["argv"] == ran


def test_the_evaluate_command_rebuilt_is_this_runs_own(recorded: dict) -> None:
    prov = recorded["vifi"]["metrics"]["provenance"]
    rebuilt = command_line(evaluate_stage.build_parser(), prov["params"])
    assert prov["argv"] == rebuilt
    (alone,) = evaluate_stage.runs(evaluate_stage.build_parser().parse_args(rebuilt))
    (ran,) = evaluate_stage.runs(evaluate_stage.build_parser().parse_args(recorded["vifi"]["argv"]))
    assert alone == ran


def test_the_recipe_has_real_types_and_nothing_of_other_methods(recorded: dict) -> None:
    """No reprs ("['base', ...]"), no prompt depths for a ViFi-CLIP run (they were argparse defaults)."""
    prov = recorded["vifi"]["metrics"]["provenance"]
    args = prov["train"]["args"]
    assert (args["lr"], args["epochs"], args["betas"], args["decay_exclusions"]) == (
        1e-4,
        1,
        [0.9, 0.98],
        False,
    )
    assert (args["mixup"], args["hflip"], args["rng_seed"], args["warmup_jump"]) == (0.0, 0.0, 1024, True)
    assert args["depth_text"] is None and args["n_ctx_text"] is None and args["evl_layers"] is None
    assert prov["params"]["eval"][0][0] == "base" and prov["params"]["num_clips"] == 1
    assert prov["params"]["depth_text"] is None
    assert prov["train"]["accumulation"] == 1 and prov["train"]["world_size"] == 1
    assert prov["seeds"] == {"train": 1024, "pretrain": None}


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_every_input_is_recorded_by_hash(recorded: dict, tiny_run: dict) -> None:
    prov = recorded["vifi"]["metrics"]["provenance"]
    read = [
        prov["inputs"]["weights"],
        *prov["inputs"]["frames"],
        *(f for s in prov["inputs"]["eval"].values() for f in s.values()),
        *(f for key, v in prov["train"]["inputs"].items() if key != "frames" for f in [v]),
        *prov["train"]["inputs"]["frames"],
    ]
    assert len(read) == 10
    for entry in read:
        assert entry["sha256"] == sha(entry["path"]), entry["path"]
    assert prov["train"]["inputs"]["weights"]["sha256"] == sha(str(tiny_run["weights"]))
    assert prov["train"]["inputs"]["train_list"]["path"] == str(tiny_run["train"])


def test_code_packages_and_machine_are_recorded_in_full(recorded: dict) -> None:
    prov = recorded["vifi"]["metrics"]["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert prov["git"]["commit"] == head
    assert isinstance(prov["git"]["dirty"], bool)
    assert (prov["git"]["diff_sha256"] is None) == (not prov["git"]["dirty"])
    assert prov["git_commit"] == head + ("-dirty" if prov["git"]["dirty"] else "")
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in md.distributions()}
    assert set(prov["packages"]) == installed
    assert {"torch", "filelock", "sympy", "vifi-repro"} <= set(prov["packages"])  # transitive ones too
    hw = prov["hardware"]
    assert hw["threads"] == 1 and hw["gpu"] is None and hw["device"] == "cpu"
    assert hw["isa"].startswith(platform.machine()) and hw["cpu"]
    assert prov["train"]["environment"]["packages"] == prov["packages"]
    assert prov["schema"] == provenance.SCHEMA


def test_vanilla_clip_records_no_training(recorded: dict) -> None:
    prov = recorded["vanilla"]["metrics"]["provenance"]
    assert prov["train"] is None and prov["seeds"] == {"train": None, "pretrain": None}
    assert prov["inputs"]["weights"]["sha256"] == sha(prov["params"]["weights"])


def test_command_line_spells_every_kind_of_flag() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int)
    p.add_argument("--pair", type=float, nargs=2)
    p.add_argument("--on", action=argparse.BooleanOptionalAction)
    p.add_argument("--flag", action="store_true")
    p.add_argument("--set", nargs=2, action="append")
    p.add_argument("--left-out")
    args = {"n": 3, "pair": [0.5, 1e-05], "on": False, "flag": True, "set": [["a", "b"], ["c", "d"]]}
    argv = command_line(p, {**args, "left_out": None})
    assert argv == [
        "--n",
        "3",
        "--pair",
        "0.5",
        "1e-05",
        "--no-on",
        "--flag",
        "--set",
        "a",
        "b",
        "--set",
        "c",
        "d",
    ]
    assert vars(p.parse_args(argv)) == {**args, "left_out": None}
