"""The default grid wires every protocol and method with its own weights, lists and recipe (dry runs only)."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run

PAPER = ROOT / "workflow/configs/paper.yaml"


def shell_commands(*args: str) -> list[str]:
    """The shell commands of a forced dry run."""
    proc = run(["snakemake", "-n", "-F", "-p", *args], cwd=ROOT)
    return [line for line in proc.stdout.splitlines() if line.startswith("Shell command:")]


@pytest.fixture(scope="module")
def commands() -> list[str]:
    return shell_commands("all")


def jobs(commands: list[str], stage: str, protocol: str, method: str | None = None) -> list[str]:
    """Commands of one stage (train/evaluate) writing into one protocol's runs, optionally of one method."""
    return [
        c
        for c in commands
        if f"vifi {stage} " in c
        and f"results/runs/{protocol}/" in c.split("--out ")[-1]
        and (method is None or f"--method {method} " in c)
    ]


def out_files(command: str) -> list[str]:
    """The files after each `--out` (one evaluation job may write several runs' or datasets' metrics)."""
    return [f for part in command.split("--out ")[1:] for f in part.split(" >")[0].split(" --")[0].split()]


def outputs(commands: list[str]) -> set[str]:
    """The run directories the commands write into."""
    return {f.rsplit("/", 1)[0] for c in commands for f in out_files(c) if f.startswith("results/runs/")}


def test_seeds_and_shot_counts_of_a_method_are_evaluated_in_one_job(commands):
    """Each run's own model, name and output, in the same order, in one job per method."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    grouped = {
        "base2novel": [f"seed{s}" for s in params["base2novel"]["seeds"]],
        "fewshot": [f"{k}shot-seed{s}" for k in params["fewshot"]["shots"] for s in params["fewshot"]["seeds"]],
    }
    for protocol, runs in grouped.items():
        trained = [c for c in jobs(commands, "evaluate", protocol) if "--method vanilla " not in c]
        jobs_of = {(re.search(r"--method (\w+)", c)[1], re.search(r"--dataset (\w+)", c)[1]) for c in trained}
        assert trained and len(jobs_of) == len(trained)
        for c in trained:
            names = re.search(r"--run-name ((?:\S+ )+)--dataset", c).group(1).split()
            weights = re.search(r"--weights ((?:\S+ )+)--arch", c).group(1).split()
            assert names == runs
            assert [w.rsplit("/", 2)[1] for w in weights] == runs
            assert [f.rsplit("/", 2)[1] for f in out_files(c)] == runs


def test_reordered_config_keys_change_no_command(commands, tmp_path: Path):
    """An override file with params.yaml's values in another key order must not trigger any rerun."""
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(yaml.safe_load((ROOT / "params.yaml").read_text()), sort_keys=True))
    assert sorted(shell_commands("all", "--configfile", str(reordered))) == sorted(commands)


@pytest.fixture(scope="module")
def paper_commands() -> list[str]:
    # Snakemake caps threads at --cores, and the workers with them: ask for more cores than any job needs.
    return shell_commands("all", "--cores", "64", "--configfile", str(PAPER))


def test_paper_jobs_load_data_with_their_configured_workers(paper_commands):
    """Paper mode feeds each GPU with loader processes, in training and in multi-view evaluation alike."""
    paper = yaml.safe_load(PAPER.read_text())
    for stage in ("train", "evaluate"):
        workers = paper[stage]["workers"]
        staged = [c for c in paper_commands if f"vifi {stage} " in c]
        assert staged and all(f"--threads {workers + 1} --workers {workers} " in c for c in staged), stage


def test_paper_mode_augments_on_the_gpu_where_the_recipe_is_the_papers_augmentation(commands, paper_commands):
    """`train.device_augment`: on in paper mode for every run with the paper's augmentation, off for EVL's
    recipe (which has its own), and off everywhere in the demo, which trains on the CPU."""
    trained = [c for c in paper_commands if "vifi train " in c]
    paper_augmentation = [c for c in trained if "--augment vifi " in c]
    evl_augmentation = [c for c in trained if "--augment evl " in c]
    assert paper_augmentation and all(" --device-augment " in c for c in paper_augmentation)
    assert evl_augmentation and all(" --no-device-augment " in c for c in evl_augmentation)
    demo = [c for c in commands if "vifi train " in c]
    assert demo and all(" --no-device-augment " in c for c in demo)


# METHODS.md §3.1 and §4: the released warmup and training augmentation, whatever the demo sets for its world.
PAPER_RECIPE = {
    "--warmup-epochs": "5",
    "--hflip": "0.5",
    "--color-jitter": "0.8",
    "--grayscale": "0.2",
    "--mixup": "0.8",
    "--cutmix": "1.0",
}


def test_paper_mode_trains_every_clip_method_with_the_released_warmup_and_augmentation(paper_commands):
    """Paper mode must not inherit the demo's warmup or augmentation switches: every training job whose recipe
    is the paper's augmentation (all but EVL's) warms up for 5 epochs, flips, jitters per frame, greys and mixes
    as released."""
    trained = [c for c in paper_commands if "vifi train " in c and "--augment vifi " in c]
    assert trained
    for command in trained:
        given = dict(re.findall(r"(--[a-z-]+) ((?!--)\S+)", command))  # switches take no value
        assert {flag: given.get(flag) for flag in PAPER_RECIPE} == PAPER_RECIPE, command


def test_every_protocol_has_its_runs(commands):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    b2n, fs, zs = params["base2novel"], params["fewshot"], params["zeroshot"]
    evaluated = outputs(jobs(commands, "evaluate", "base2novel"))
    skipped = zs["source"] in b2n["datasets"]  # prompting skips the bridge's own source dataset
    trained = len(b2n["datasets"]) * (len(b2n["methods"]) - 1) - skipped
    assert len(evaluated) == trained * len(b2n["seeds"]) + len(b2n["datasets"])
    assert {r for r in evaluated if "/vanilla/" in r} == {
        f"results/runs/base2novel/{d}/vanilla/main" for d in b2n["datasets"]
    }
    assert not any(r.startswith("results/runs/base2novel/k400/prompt") for r in evaluated), (
        "prompting must skip the bridge's own dataset, whose novel classes the bridge was trained on"
    )
    fewshot = outputs(jobs(commands, "evaluate", "fewshot"))
    assert len(fewshot) == len(fs["datasets"]) * len(fs["shots"]) * len(fs["seeds"]) * len(fs["methods"])
    assert {r.rsplit("/", 1)[1] for r in fewshot} == {
        f"{k}shot-seed{s}" for k in fs["shots"] for s in fs["seeds"]
    }
    zeroshot = jobs(commands, "evaluate", "zeroshot")  # one job per method scores every target
    assert len(zeroshot) == len(zs["methods"])
    assert all(re.findall(r"--dataset (\w+)", c) == zs["targets"] for c in zeroshot)
    assert all(c.count("--eval split") == len(zs["splits"]) * len(zs["targets"]) for c in zeroshot)
    assert len(outputs(zeroshot)) == len(zs["targets"]) * len(zs["methods"])
    fullsup = jobs(commands, "evaluate", "fullsup")
    assert fullsup and all("--num-clips 4 --num-crops 3" in c for c in fullsup)


def test_zero_shot_trains_once_on_the_source_and_evaluates_every_target(commands):
    trained = [c for c in jobs(commands, "train", "zeroshot") if "/main/model.pt" in c.split("--out ")[-1]]
    assert sorted(re.search(r"--method (\w+)", c).group(1) for c in trained) == ["image", "text", "vifi"]
    assert all("data/splits/k400/full/train.txt" in c for c in trained)
    vifi_evals = jobs(commands, "evaluate", "zeroshot", "vifi")
    assert all("--weights results/runs/zeroshot/k400/vifi/main/model.pt" in c for c in vifi_evals)
    vanilla = jobs(commands, "evaluate", "zeroshot", "vanilla")
    assert all("--weights checkpoints/pretrained/vifi-tiny.pt" in c for c in vanilla)


def bridge_of(command: str) -> str:
    """The run name of the zero-shot ViFi-CLIP a prompting command starts from."""
    return re.search(r"--weights results/runs/zeroshot/k400/vifi/(\w+)/model.pt ", command).group(1)


def test_prompting_starts_from_one_zero_shot_vifi_bridge_per_subset_or_draw(commands):
    """Subset (or K-shot draw) i starts from bridge i: intervals over subsets and draws resample the bridge."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    runs, seed = params["bridge"]["runs"], params["train"]["rng_seed"]
    names = ["main", *(f"rng{seed + i}" for i in range(1, runs))]
    prompt = jobs(commands, "train", "base2novel", "prompt") + jobs(commands, "train", "fewshot", "prompt")
    assert prompt and all("--n-ctx-text 8" in c for c in prompt)
    for command in prompt:
        run = out_files(command)[0].split("/")[-2]
        draw = int(run.rsplit("seed", 1)[1])
        draws = params["base2novel" if run.startswith("seed") else "fewshot"]["seeds"]
        assert bridge_of(command) == names[draws.index(draw) % runs], command
    assert {bridge_of(c) for c in prompt} == set(names)
    bridges = {out_files(c)[0].split("/")[-2]: c for c in jobs(commands, "train", "zeroshot", "vifi")}
    assert sorted(bridges) == sorted(names)

    def recipe(name: str) -> str:
        """A bridge's command without what names it: its RNG seed and its run's paths."""
        own = f"--rng-seed {seed + names.index(name)} "
        return re.sub(rf"\b{name}\b", "RUN", bridges[name]).replace(own, "")

    assert all(f"--rng-seed {seed + i} " in bridges[name] for i, name in enumerate(names))
    assert len({recipe(name) for name in names}) == 1, "bridges must differ in their RNG seed only"


def test_paper_mode_has_one_bridge_as_the_paper(paper_commands):
    prompt = [c for c in paper_commands if "vifi train " in c and "--method prompt " in c]
    assert prompt and {bridge_of(c) for c in prompt} == {"main"}
    assert not any("/rng" in c for c in paper_commands)


def test_evl_runs_its_own_recipe_and_evaluates_with_its_sampling(commands):
    evl = jobs(commands, "train", "fullsup", "evl")
    for flag in ("--betas 0.9 0.999", "--warmup-epochs 0", "--min-lr-ratio 0.0", "--augment evl",
                 "--sampling dense", "--normalize clip", "--label-smoothing 0.0"):  # fmt: skip
        assert evl and all(flag in c for c in evl), flag
    vifi = jobs(commands, "train", "fullsup", "vifi")
    assert vifi and all("--augment vifi" in c and "--betas 0.9 0.98" in c for c in vifi)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    epochs = params["recipes"]["evl"]["epochs"], params["fullsup"]["train"]["epochs"]
    assert all(f"--epochs {epochs[0]} " in c for c in evl) and all(f"--epochs {epochs[1]} " in c for c in vifi)
    stride = params["recipes"]["evl"]["stride"]
    evaluations = jobs(commands, "evaluate", "fullsup", "evl")
    assert evaluations and all(f"--sampling dense --stride {stride}" in c for c in evaluations)


def test_predict_default_checkpoint_is_a_model_the_demo_trains(commands):
    """`vifi predict` without --checkpoint must find a model after `make demo`."""
    from vifi.engine.predict import DEMO_CHECKPOINT  # imports torch: only here

    trained = [f for c in commands if "vifi train " in c for f in out_files(c)]
    assert str(DEMO_CHECKPOINT) in trained


def test_gpu_jobs_go_through_the_device_pool(commands):
    gpu = [c for c in commands if "vifi train " in c or "vifi evaluate " in c or "vifi pretrain " in c]
    assert gpu and all("python -m vifi.stages.gpu_pool -n 1" in c for c in gpu)


AVX2_PIN = "ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2"


def test_pretraining_runs_pinned_to_one_instruction_set_and_thread_count(commands):
    """The demo's one pretraining run is what every number builds on: its floats must not depend on the CPU."""
    (pretrain,) = [c for c in commands if "vifi pretrain " in c]
    assert pretrain.split("Shell command:")[1].strip().startswith(f"{AVX2_PIN} python -m vifi.stages.gpu_pool")
    assert " --threads 1 " in pretrain and "--kernels" not in pretrain


def test_extraction_runs_pinned_as_pretraining_does(commands):
    """Every run reads the extracted frames, and the antialiased resize rounds differently on each vector
    width: unpinned, another machine trains on other frames."""
    extracts = [c for c in commands if "vifi extract " in c]
    assert len(extracts) == 5  # one shard per dataset
    for extract in extracts:
        assert extract.split("Shell command:")[1].strip().startswith(f"{AVX2_PIN} python -m vifi extract ")
        assert "--kernels" not in extract


def test_a_given_bridge_checkpoint_replaces_the_zero_shot_model(tmp_path: Path):
    """With a foreign bridge nothing saw k400's novel classes, so k400 gets prompting too."""
    released = tmp_path / "k400-vifi.pt"
    released.touch()
    override = tmp_path / "bridge.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "bridge": {"weights": str(released)},
                "protocols": ["base2novel"],
                "base2novel": {"datasets": ["k400", "ucf101"]},
            }
        )
    )
    given = shell_commands("runs_all", "--configfile", str(override))
    commands = jobs(given, "train", "base2novel", "prompt")
    assert commands and all(f"--weights {released}" in c for c in commands)
    assert not jobs(given, "train", "zeroshot"), "a given bridge trains none"
    own = yaml.safe_load(override.read_text())
    del own["bridge"]
    override.with_name("own.yaml").write_text(yaml.safe_dump(own))
    assert any("runs/base2novel/k400/prompt" in c for c in commands)
    own_commands = shell_commands("runs_all", "--configfile", str(override.with_name("own.yaml")))
    default = jobs(own_commands, "train", "base2novel", "prompt")
    assert default and not any("runs/base2novel/k400/prompt" in c for c in default)
    assert (
        len(jobs(own_commands, "train", "zeroshot", "vifi"))
        == yaml.safe_load((ROOT / "params.yaml").read_text())["bridge"]["runs"]
    ), "without a given bridge, each bridge is trained"


def test_paper_grid_dry_run_lists_every_job_quickly():
    """The paper-mode grid (hundreds of jobs) plans on a machine without data or weights."""
    start = time.perf_counter()
    proc = run(["snakemake", "-n", "--configfile", str(PAPER), "--quiet", "rules"], cwd=ROOT)
    seconds = time.perf_counter() - start
    counts = Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)})
    paper = yaml.safe_load(PAPER.read_text())
    seeds, shots = len(paper["base2novel"]["seeds"]), len(paper["fewshot"]["shots"])
    evaluated = counts["evaluate"] + seeds * counts["evaluate_seeds"] + shots * counts["evaluate_shots"]
    assert counts["train"] > 100 and evaluated > 100, proc.stdout
    print(f"paper grid: {counts['total']} jobs planned in {seconds:.1f} s")


def test_fully_supervised_source_runs_equal_to_zero_shot_ones_train_once(commands, tmp_path: Path):
    """Same list, recipe and model: one training serves both tables; a different recipe trains its own."""
    trained = jobs(commands, "train", "fullsup")
    assert not [c for c in trained if "results/runs/fullsup/k400/vifi/" in c]
    vifi = [c for c in jobs(commands, "evaluate", "fullsup", "vifi") if "--dataset k400 " in c]
    assert vifi and all("--weights results/runs/zeroshot/k400/vifi/main/model.pt" in c for c in vifi)
    assert any("--out results/runs/fullsup/k400/evl/main/model.pt" in c for c in trained)  # not in zero-shot
    override = tmp_path / "frames.yaml"
    override.write_text(yaml.safe_dump({"fullsup": {"train": {"epochs": 2}}}))
    own = shell_commands("all", "--configfile", str(override))
    assert any("--out results/runs/fullsup/k400/vifi/main/model.pt" in c for c in jobs(own, "train", "fullsup"))
    evals = [c for c in jobs(own, "evaluate", "fullsup", "vifi") if "--dataset k400 " in c]
    assert evals and all("--weights results/runs/fullsup/k400/vifi/main/model.pt" in c for c in evals)


@pytest.mark.parametrize("policy", ["as_released", "by_name"])
def test_the_audit_policy_decides_whether_released_lists_are_relabelled_by_name(tmp_path: Path, policy: str):
    """Released lists are audited before training either way; `by_name` also relabels them from videos.csv."""
    override = tmp_path / "official.yaml"
    override.write_text(yaml.safe_dump({"official": "released", "audit": {"policy": policy}}))
    commands = shell_commands("all", "--configfile", str(override))
    splits = [c for c in commands if "vifi splits " in c or "vifi protocols --protocol zeroshot" in c]
    assert splits and all("--official released" in c for c in splits)
    pattern = r"--dataset (\w+) --relabel-by-name data/lists/\1/videos\.csv --format (ucf101|hmdb51|kinetics)\b"
    relabel = [c for c in splits if re.search(pattern, c)]
    assert len(relabel) == (len(splits) if policy == "by_name" else 0)
    audits = [c for c in commands if "vifi audit " in c]
    assert any(f"--policy {policy}" in c and "data/splits/ucf101/base2novel/audit.json" in c for c in audits)
